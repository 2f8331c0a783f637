"""No secrets or credentials in findings, logs or alerts (issue 8): every output a person sees, for every
record of the real corpus and every sample, is scanned for key-like strings.

What is run
  * every CloudTrail record of ``tests/corpus`` (all folders, read as the CLI reads them) and every
    sample of ``events/cloudtrail``, through the engine;
  * canary copies of real records (below), through the engine too;
  * the CloudTrail handler (``functions/cloudtrail_evaluator/cloudtrail_evaluator.py``, Security Hub off, no topic, no
    queue, so no sink is built) on all of them, its JSON log lines and EMF metrics captured;
  * ``identity-auditor evaluate`` in all three formats on the samples and the canaries;
  * the Config handler (``functions/config_rule_evaluator/config_rule_evaluator.py``) against an emulated account (moto)
    whose users have passwords and access keys, on every ``events/config`` sample and a periodic sweep of
    every state rule: what it sends to AWS (PutEvaluations annotations, BatchImportFindings, SNS), what
    Security Hub and the alert queue then hold, and its logs.

What is scanned, for each finding: ``Finding.summary()`` (the CLI's jsonl), ``asff.to_asff(...)``, the
e-mail and chat alerts (subject and message), the SNS message attributes and the queued delivery
(``outbox.delivery(..., page=True).to_json()``); plus the handlers' logs, return values and the CLI's
output.

How: :mod:`secret_scan` looks for the shapes of secrets (AWS secret access keys, STS session tokens,
private key blocks, ``password=``/``secret=``/``token=`` assignments, client secrets, Authorization
headers, request signatures, GitHub and Slack tokens, JWTs) and for fragments of every value the inputs
hold under a key that names a secret (``secretAccessKey``, ``sessionToken``, ``password``...). The real
corpus holds real (expired) STS session tokens in its ``AssumeRole`` responses; CloudTrail redacts the
rest as ``HIDDEN_DUE_TO_SECURITY_REASONS``, so canaries are planted where a careless CloudTrail consumer
could copy them out: the secret key of ``CreateAccessKey``, the passwords of ``CreateLoginProfile`` /
``UpdateLoginProfile`` / ``ChangePassword``, the credentials of ``AssumeRole`` / ``GetSessionToken`` /
``GetFederationToken``, an OIDC ``clientSecret``, a private key in a SAML metadata document, a user agent
and an error message carrying secrets, GitHub and Slack tokens in tags and descriptions, and, for every
record that produces a finding, all of them at once ("sprayed" copies, checked to produce the same
findings, so the canaries sit in records whose findings are rendered).

Decision: access key ids (``AKIA...``, ``ASIA...``) are identifiers, not secrets. Findings name them on
purpose (the key to deactivate; the key a session came from), as CloudTrail, the IAM console and Security
Hub's own providers do; an id grants nothing without its secret access key. They are not flagged.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from identity_auditor.archive.inputs import Envelope, expand  # noqa: E402
from identity_auditor.engine.events import Engine  # noqa: E402
from identity_auditor.model.cloudtrail import CloudTrailEvent  # noqa: E402
from identity_auditor.model.contract import Context  # noqa: E402
from identity_auditor.model.redaction import MARK as REDACTION_MARK  # noqa: E402
from identity_auditor.sinks import alerts
from identity_auditor.sinks import queue as outbox  # noqa: E402
from identity_auditor.sinks.asff import to_asff  # noqa: E402
from reference_reader import read  # noqa: E402  (every record, wanted by a rule or not)
from secret_scan import Hit, leaks, needles, scan, sensitive_values  # noqa: E402

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = support.PRODUCT_ARN

# -- canaries: unmistakably fake, each says what it is ---------------------------------------------------

SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARY0KEY"  # 40 characters, like a real one
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjECANARYaCXVzLWVhc3QtMSJHMEUCIQCanarySessionTokenDoNotLeak"
    "0123456789abcdefCANARY/+canary=="
)
FEDERATION_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbCANARY0FED"
FEDERATION_TOKEN = "FwoGZXIvYXdzECANARYFederationTokenDoNotLeak0123456789abcdefCANARYfedtoken"
PASSWORD = "Canary-Passw0rd!-do-not-leak"
NEW_PASSWORD = "Canary-NewPassw0rd!-do-not-leak"
OLD_PASSWORD = "Canary-OldPassw0rd!-do-not-leak"
CLIENT_SECRET = "canary-oidc-client-secret-0123456789abcdefCANARY"
PRIVATE_KEY_BODY = "MIIEowIBAAKCAQEAcanaryCANARYprivateKEYdoNOTleak0123456789abcdefCANARY"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END RSA PRIVATE KEY-----"
BEARER_TOKEN = "canaryBearerToken.CANARY0123456789abcdefDoNotLeak"
GITHUB_TOKEN = "ghp_CANARY0123456789abcdefghijklmnopqrstu"
SLACK_TOKEN = "xoxb-000000000000-0000000000000-CANARYcanaryCANARYcanary"
CANARY_MARK = "canary"  # every canary holds it (any case); nothing else in the inputs does

CANARIES = (
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    FEDERATION_SECRET,
    FEDERATION_TOKEN,
    PASSWORD,
    NEW_PASSWORD,
    OLD_PASSWORD,
    CLIENT_SECRET,
    PRIVATE_KEY_BODY,
    BEARER_TOKEN,
    GITHUB_TOKEN,
    SLACK_TOKEN,
)
SAML_METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="https://idp.example.com/metadata"><md:IDPSSODescriptor '
    'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><PrivateKey>'
    f"{PRIVATE_KEY}</PrivateKey></md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>"
)
# Secrets that end up in free text: a user agent and an error message (a tool that put them there).
USER_AGENT = (
    f"aws-cli/2.13.0 Python/3.11.4 Linux/5.19.0 exe/x86_64 AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY} "
    f"Authorization: Bearer {BEARER_TOKEN} password={PASSWORD}"
)
ERROR_MESSAGE = (
    f"The security token included in the request is invalid: X-Amz-Security-Token={SESSION_TOKEN} "
    f"secret={SECRET_ACCESS_KEY}"
)


# -- reading and evaluating ------------------------------------------------------------------------------


def _envelopes(*paths: Path) -> list[tuple[str, dict]]:
    """Every CloudTrail record under ``paths`` as the CLI reads it: (origin, EventBridge envelope)."""
    found = []
    for path in expand([str(p) for p in paths]):
        if isinstance(path, str):
            found.extend((item.origin, item.event) for item in read(path) if isinstance(item, Envelope))
    return found


ENGINE = Engine()


def _findings(envelope: dict) -> list:
    event = CloudTrailEvent.model_validate(envelope)
    result = ENGINE.evaluate(event.detail, Context(now=NOW), account=event.account, region=event.region)
    assert not result.failures, result.failures
    return result.findings


def _outputs(finding) -> list[tuple[str, str]]:
    """Everything a person sees of one finding, as text."""
    where = finding.finding_id
    shown = [
        (f"summary {where}", json.dumps(finding.summary(), ensure_ascii=False, default=str)),
        (
            f"asff {where}",
            json.dumps(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW), ensure_ascii=False),
        ),
        (f"sns attributes {where}", json.dumps(alerts.attributes(finding), ensure_ascii=False)),
    ]
    for alert_format in alerts.ALERT_FORMATS:
        subject, message = alerts.render(finding, alert_format)
        shown += [(f"{alert_format} subject {where}", subject), (f"{alert_format} message {where}", message)]
        queued = outbox.delivery(
            finding, product_arn=PRODUCT_ARN, updated_at=NOW, page=True, alert_format=alert_format
        )
        shown.append((f"queued delivery ({alert_format}) {where}", queued.to_json()))
    return shown


def _hits(outputs: list[tuple[str, str]], fragments: set[str]) -> list[Hit]:
    hits = []
    for where, text in outputs:
        hits += scan(text, where) + leaks(text, fragments, where)
        if CANARY_MARK in text.lower():
            start = text.lower().index(CANARY_MARK)
            hits.append(Hit("canary", where, text[max(start - 60, 0) : start + 40]))
    return hits


def _report(hits: list[Hit], limit: int = 20) -> str:
    return f"{len(hits)} secret-like strings in outputs:\n" + "\n".join(str(hit) for hit in hits[:limit])


# -- canary records ----------------------------------------------------------------------------------------


def _detail(envelope: dict) -> dict:
    return envelope["detail"]


def _event(event_id: str) -> dict:
    return support.invictus_event(event_id)


def _root(detail: dict) -> None:
    account = detail.get("recipientAccountId") or "123837392027"
    detail["userIdentity"] = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "ASIATFQR7NSCEXAMPLE09",
    }


def _sts(event_id: str, name: str, secret: str, token: str) -> dict:
    envelope = _event(event_id)  # a real AssumeRole record (its real, expired session token replaced)
    detail = _detail(envelope)
    detail["eventName"] = name
    if name != "AssumeRole":
        _root(detail)  # root may call GetSessionToken / GetFederationToken: root_account_used reports it
        detail["requestParameters"] = {
            "durationSeconds": 3600,
            **({"name": "federated-user"} if name == "GetFederationToken" else {}),
        }
    detail["eventID"] = f"{detail['eventID'][:-12]}{name.lower()[:12]:0>12}"
    credentials = detail["responseElements"]["credentials"]
    credentials.update(secretAccessKey=secret, sessionToken=token)
    return envelope


def canary_events() -> dict[str, dict]:
    """Real records (invictus and samples) with secrets planted where CloudTrail consumers could copy them."""
    events: dict[str, dict] = {}

    key = _event("64b7de64-bf53-47ae-b7e3-d30cb1b5136e")  # CreateAccessKey bert-jan -> backdoor user
    _detail(key)["responseElements"]["accessKey"].update(
        secretAccessKey=SECRET_ACCESS_KEY, sessionToken=SESSION_TOKEN
    )
    events["CreateAccessKey: responseElements.accessKey.secretAccessKey"] = key

    profile = _event("f0d7bb15-75c8-4770-a500-92d1f71b948c")  # CreateLoginProfile for another user
    _detail(profile)["requestParameters"]["password"] = PASSWORD
    events["CreateLoginProfile: requestParameters.password"] = profile

    update = support.load_sample("iam_update_login_profile_self__constructed")
    _detail(update)["requestParameters"].update(password=NEW_PASSWORD)
    events["UpdateLoginProfile: requestParameters.password"] = update

    change = copy.deepcopy(update)  # an IAM user changing their own password (no rule; logs still scanned)
    _detail(change).update(
        eventName="ChangePassword",
        eventID="0c4a7e2e-5d1b-4c8e-9f0a-0000000000c1",
        requestParameters={"oldPassword": OLD_PASSWORD, "newPassword": NEW_PASSWORD},
    )
    events["ChangePassword: requestParameters.oldPassword/newPassword"] = change
    root_change = copy.deepcopy(change)
    _root(_detail(root_change))
    _detail(root_change)["eventID"] = "0c4a7e2e-5d1b-4c8e-9f0a-0000000000c2"
    events["ChangePassword by root: requestParameters.oldPassword/newPassword"] = root_change

    assumed = "7c53cae3-f037-4394-8ad9-086f099efa7d"  # AssumeRole by an IAM user, with real credentials
    events["AssumeRole: responseElements.credentials"] = _sts(
        assumed, "AssumeRole", SECRET_ACCESS_KEY, SESSION_TOKEN
    )
    events["GetSessionToken (root): responseElements.credentials"] = _sts(
        assumed, "GetSessionToken", SECRET_ACCESS_KEY, SESSION_TOKEN
    )
    events["GetFederationToken (root): responseElements.credentials"] = _sts(
        assumed, "GetFederationToken", FEDERATION_SECRET, FEDERATION_TOKEN
    )

    oidc = support.load_sample("iam_create_open_id_connect_provider_root_via_cloudformation__constructed")
    _detail(oidc)["requestParameters"]["clientSecret"] = CLIENT_SECRET
    events["CreateOpenIDConnectProvider: requestParameters.clientSecret"] = oidc
    client = support.load_sample("iam_add_client_id_to_open_id_connect_provider__constructed")
    _detail(client)["requestParameters"]["clientSecret"] = CLIENT_SECRET
    events["AddClientIDToOpenIDConnectProvider: requestParameters.clientSecret"] = client

    for name in (
        "iam_create_saml_provider__constructed",
        "iam_update_saml_provider_identity_center_by_human__constructed",
    ):
        saml = support.load_sample(name)
        _detail(saml)["requestParameters"].update(
            sAMLMetadataDocument=SAML_METADATA, addPrivateKey=PRIVATE_KEY
        )
        events[f"{_detail(saml)['eventName']}: requestParameters.sAMLMetadataDocument with a private key"] = (
            saml
        )

    login = _event("70e5932e-9022-4b38-837e-ca10dad94eb7")  # console login without MFA
    _detail(login)["userAgent"] = USER_AGENT
    events["ConsoleLogin: userAgent carrying a secret key, a bearer token and a password"] = login

    root_key = support.load_sample("iam_create_access_key_root_for_itself__constructed")
    _detail(root_key).update(errorMessage=ERROR_MESSAGE, userAgent=USER_AGENT)
    events["CreateAccessKey by root: errorMessage and userAgent carrying secrets"] = root_key
    failed = copy.deepcopy(root_key)  # a failed call: no finding, but the handler's logs are scanned
    _detail(failed).update(errorCode="InvalidClientTokenId", eventID="5e0c1f0a-7b7d-4f7e-8f1e-0000000000f1")
    events["CreateAccessKey by root, failed: errorMessage and userAgent carrying secrets"] = failed

    user = _event("66d008e1-12cf-4a45-99e7-0be67fc70d71")  # CreateUser
    _detail(user)["requestParameters"]["tags"] = [
        {"key": "deploy-token", "value": GITHUB_TOKEN},
        {"key": "slack", "value": SLACK_TOKEN},
    ]
    events["CreateUser: GitHub and Slack tokens in tags"] = user

    role = support.load_sample("iam_create_role_trust_any_principal__constructed")
    _detail(role)["requestParameters"]["description"] = f"ci role; token={GITHUB_TOKEN}; slack {SLACK_TOKEN}"
    events["CreateRole: tokens in the description"] = role
    return events


# User agents iam_mfa_device_enabled_outside_console reads as console credentials (spec §A); a canary appended to
# one would turn a console call into a finding, so those records keep theirs.
CONSOLE_USER_AGENTS = ("Coral/Netty4", "AWS Internal")


def spray(envelope: dict) -> dict:
    """A copy with a canary in every place that could hold a secret."""
    sprayed = copy.deepcopy(envelope)
    detail = sprayed["detail"]
    request = detail.get("requestParameters")
    planted = {
        "password": PASSWORD,
        "newPassword": NEW_PASSWORD,
        "oldPassword": OLD_PASSWORD,
        "clientSecret": CLIENT_SECRET,
        "secretAccessKey": SECRET_ACCESS_KEY,
        "sessionToken": SESSION_TOKEN,
        "privateKey": PRIVATE_KEY,
        "Authorization": f"Bearer {BEARER_TOKEN}",
        "sAMLMetadataDocument": SAML_METADATA,
        "tags": [{"key": "token", "value": GITHUB_TOKEN}],
    }
    if isinstance(request, dict):
        detail["requestParameters"] = {**planted, **request}  # the record's own values win
    response = detail.get("responseElements")
    if isinstance(response, dict):
        response.setdefault(
            "credentials",
            {
                "accessKeyId": "ASIATFQR7NSCEXAMPLE10",
                "expiration": "Jul 10, 2023",
                "secretAccessKey": SECRET_ACCESS_KEY,
                "sessionToken": SESSION_TOKEN,
            },
        )
        if isinstance(response.get("accessKey"), dict):
            response["accessKey"]["secretAccessKey"] = SECRET_ACCESS_KEY
    extra = detail.get("additionalEventData")
    detail["additionalEventData"] = {
        **({} if not isinstance(extra, dict) else extra),
        "x-amz-security-token": SESSION_TOKEN,
        "SlackWebhookToken": SLACK_TOKEN,
    }
    if detail.get("userAgent") not in CONSOLE_USER_AGENTS:  # those exact values mean "the console" to the rules
        detail["userAgent"] = (
            f"{detail.get('userAgent') or 'aws-cli/2.13.0'} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}"
        )
    detail.setdefault("errorMessage", ERROR_MESSAGE)
    return sprayed


# -- the runs (once per module) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs() -> list[tuple[str, dict]]:
    corpus = _envelopes(support.CORPUS)
    samples = _envelopes(support.EVENTS)
    assert len(corpus) >= 2900 and len(samples) >= 90, (len(corpus), len(samples))
    return corpus + samples


@pytest.fixture(scope="module")
def canaries(inputs) -> list[tuple[str, dict]]:
    planted = list(canary_events().items())
    for origin, envelope in inputs:
        if _findings(envelope):
            planted.append((f"sprayed copy of {origin}", spray(envelope)))
    return planted


@pytest.fixture(scope="module")
def fragments(inputs) -> set[str]:
    """Fragments of every secret value the inputs hold (the corpus's real session tokens among them)."""
    return needles(value for _, envelope in inputs for value in sensitive_values(envelope))


# -- the scanner itself can fail ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        f'{{"secretAccessKey": "{SECRET_ACCESS_KEY}"}}',
        f"aws_secret_access_key = {SECRET_ACCESS_KEY}",
        f"key {SECRET_ACCESS_KEY} leaked",
        f"token {SESSION_TOKEN}",
        f"FederationToken {FEDERATION_TOKEN}",
        PRIVATE_KEY,
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        f'"password": "{PASSWORD}"',
        f'{{\\"newPassword\\":\\"{NEW_PASSWORD}\\"}}',  # inside a JSON string inside JSON (a queued chat alert)
        f"oldPassword={OLD_PASSWORD}",
        f"clientSecret: {CLIENT_SECRET}",
        f"Authorization: Bearer {BEARER_TOKEN}",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20230710/us-east-1/iam/aws4_request",
        "X-Amz-Signature=" + "ab" * 32,
        f"deploy with {GITHUB_TOKEN}",
        f"notify {SLACK_TOKEN}",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "secret=s3cr3t-value-123",
        "api_key: 0123456789abcdef",
        "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ",
    ],
)
def test_the_scanner_flags_a_planted_secret(secret):
    text = f"[HIGH] Access key created: bert-jan in 123837392027\nWhat happened: {secret}\n"
    assert scan(text), f"the scanner missed {secret!r}"


def test_the_scanner_flags_fragments_of_known_values_even_clipped():
    fragments = needles([SESSION_TOKEN, PASSWORD, SAML_METADATA])
    assert leaks(f"user agent: {SESSION_TOKEN[:40]}…", fragments)
    assert leaks(f"ProductFields: {PASSWORD}", fragments)
    assert leaks(f"Detail/Doc: {SAML_METADATA[:60]}", fragments)
    assert not leaks("bert-jan created an access key for stratus-red-team-backdoor-u-user", fragments)


@pytest.mark.parametrize(
    "benign",
    [
        "AKIATFQR7NSC8Q4X20BJ",
        "ASIATFQR7NSCSHSEVYP5",  # access key ids: identifiers (see the module docstring)
        "iam_user_created/123837392027/us-east-1/c12613ae38ec8130/66d008e1-12cf-4a45-99e7-0be67fc70d71",
        '"password": "HIDDEN_DUE_TO_SECURITY_REASONS"',
        "Reset the console password (login profile) of the user.",
        "IMDSv1 (metadata without a session token)",
        "6938fd4d98bab03faadb97b34396831e3780aea1",
        "arn:aws:iam::123837392027:oidc-provider/token.actions.githubusercontent.com",
    ],
)
def test_the_scanner_passes_identifiers_and_redactions(benign):
    assert not scan(benign), scan(benign)


def test_fake_secrets_are_unmistakable():
    for canary in CANARIES:
        assert CANARY_MARK in canary.lower(), canary
    assert len(SECRET_ACCESS_KEY) == len(FEDERATION_SECRET) == 40
    assert all(
        scan(canary)
        for canary in (
            SECRET_ACCESS_KEY,
            SESSION_TOKEN,
            FEDERATION_TOKEN,
            GITHUB_TOKEN,
            SLACK_TOKEN,
            PRIVATE_KEY,
        )
    )


# -- findings, ASFF, alerts, deliveries --------------------------------------------------------------------


def test_outputs_of_the_corpus_and_the_samples_hold_no_secrets(inputs, fragments):
    assert any(fragment.startswith("IQoJb3JpZ2lu") for fragment in fragments)  # the corpus's real STS tokens
    outputs, findings = [], 0
    for _, envelope in inputs:
        for finding in _findings(envelope):
            findings += 1
            outputs += _outputs(finding)
    assert findings >= 70 and len(outputs) == findings * 9, (findings, len(outputs))
    hits = _hits(outputs, fragments)
    assert not hits, _report(hits)
    masked = [where for where, text in outputs if REDACTION_MARK in text]
    assert not masked, f"the redaction masked something in real records: {masked[:5]}"  # no false positives


def test_every_canary_record_the_rules_care_about_produces_findings(canaries, inputs):
    quiet = {
        "AssumeRole: responseElements.credentials",
        "ChangePassword: requestParameters.oldPassword/newPassword",
        "CreateAccessKey by root, failed: errorMessage and userAgent carrying secrets",
    }
    originals = dict(inputs)
    for name, envelope in canaries:
        produced = {f.rule_id for f in _findings(envelope)}
        if name.startswith("sprayed copy of "):
            expected = {f.rule_id for f in _findings(originals[name.removeprefix("sprayed copy of ")])}
            assert produced == expected, f"{name}: the canaries changed the findings {expected} -> {produced}"
        else:
            assert bool(produced) is (name not in quiet), (name, produced)
    assert sum(name.startswith("sprayed") for name, _ in canaries) >= 70


def test_canaries_never_reach_findings_alerts_or_deliveries(canaries, fragments):
    outputs = [
        output for _, envelope in canaries for finding in _findings(envelope) for output in _outputs(finding)
    ]
    known = (
        fragments
        | needles(CANARIES)
        | needles(value for _, envelope in canaries for value in sensitive_values(envelope))
    )
    hits = _hits(outputs, known)
    assert not hits, _report(hits)


# -- the CloudTrail handler's logs ----------------------------------------------------------------------------


class _Stdout:
    """Writes to whatever ``sys.stdout`` is at the time (Powertools keeps the stream of its first set-up)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(scope="module")
def handler_run(inputs, canaries):
    """The CloudTrail handler on every record and canary: (stdout, return values). No sinks: Security Hub
    off, no topic, no queue, no de-duplication table."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SECURITY_HUB_ENABLED", "false")
        for name in (
            "FINDINGS_TOPIC_ARN",
            "FINDINGS_QUEUE_URL",
            "IDEMPOTENCY_TABLE",
            "POLICY_SSM_PARAMETER",
            "POLICY_APPCONFIG",
            "SECURITY_HUB_PRODUCT_ARN",
        ):
            patch.delenv(name, raising=False)
        module = support.load_handler_module("cloudtrail_evaluator_app_secret_scan")
        handler = module.logger.registered_handler
        previous = handler.stream
        handler.setStream(_Stdout())
        # The most a deployment could log (LogLevel=DEBUG); Powertools keeps the level of its first set-up.
        loggers = [
            module.logger._logger,
            *(
                logging.getLogger(name)
                for name in list(logging.root.manager.loggerDict)
                if name.startswith("identity_auditor")
            ),
        ]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
        out, results = io.StringIO(), []
        try:
            with contextlib.redirect_stdout(out):
                for _, envelope in [*inputs, *canaries]:
                    results.append(module.handler(copy.deepcopy(envelope), support.FakeLambdaContext()))
        finally:
            handler.setStream(previous)
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
    # the sinks were built for the findings, and there are none: nothing left the process
    assert module.DELIVERY.sinks_built and module.DELIVERY.sinks(support.FakeLambdaContext()) == []
    return out.getvalue(), results


def test_handler_logs_and_results_hold_no_secrets(handler_run, fragments, canaries):
    logs, results = handler_run
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("message") == "finding"]
    assert len(logged) == sum(len(result["findings"]) for result in results) >= 2 * 70
    assert not any(result["ruleErrors"] for result in results)
    known = (
        fragments
        | needles(CANARIES)
        | needles(value for _, envelope in canaries for value in sensitive_values(envelope))
    )
    outputs = [(f"handler log line {index}", line) for index, line in enumerate(logs.splitlines())]
    outputs += [(f"handler result {index}", json.dumps(result)) for index, result in enumerate(results)]
    hits = _hits(outputs, known)
    assert not hits, _report(hits)


# -- the CLI ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["table", "jsonl", "asff"])
def test_cli_output_holds_no_secrets(output_format, canaries, fragments, tmp_path):
    from identity_auditor.cli.main import main

    archive = tmp_path / "canaries.json"
    archive.write_text(json.dumps({"Records": [envelope["detail"] for _, envelope in canaries]}))
    out, err = io.StringIO(), io.StringIO()
    main(["evaluate", str(archive), str(support.EVENTS), "--format", output_format, "--jobs", "1"], out, err)
    assert out.getvalue().count("\n") >= 140, err.getvalue()[-2000:]
    known = fragments | needles(CANARIES)
    hits = _hits(
        [(f"evaluate --format {output_format}", out.getvalue()), ("evaluate stderr", err.getvalue())], known
    )
    assert not hits, _report(hits)


# -- the state path: the Config handler against an emulated account ------------------------------------------


CONFIG_EVENTS = support.ROOT / "events" / "config"
CONFIG_HANDLER = support.ROOT / "functions" / "config_rule_evaluator" / "config_rule_evaluator.py"
STATE_PASSWORD = "Canary-State-Passw0rd!-do-not-leak"


def _load_config_app():
    spec = importlib.util.spec_from_file_location("config_rule_evaluator_app_secret_scan", CONFIG_HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module  # so that freezegun also stops the handler's clock
    return module


def _invocations() -> list[tuple[str, dict]]:
    from identity_auditor.engine.registry import REGISTRY

    samples = [(path.name, json.loads(path.read_text())) for path in sorted(CONFIG_EVENTS.glob("*.json"))]
    periodic = json.loads(
        (CONFIG_EVENTS / "iam_access_key_not_rotated_periodic__constructed.json").read_text()
    )
    for rule in REGISTRY.state_rules():
        samples.append(
            (
                f"periodic {rule.meta.id}",
                {
                    **periodic,
                    "ruleParameters": json.dumps({"ruleId": rule.meta.id}),
                    "configRuleName": f"identity-auditor-{rule.meta.id}",
                },
            )
        )
    return samples


def test_the_state_path_sends_and_logs_no_secrets(monkeypatch, lambda_context):
    """Users with console passwords and access keys (their secrets known to the test), a role with a
    description and tags holding tokens; every Config sample and a periodic sweep of every state rule.
    (No freezegun here: a frozen clock around moto's first SNS/SQS use leaks into later tests' queues;
    the violations below do not depend on the date.)"""
    import boto3
    import botocore.client
    from moto import mock_aws

    secrets: list[str] = [STATE_PASSWORD]
    sent: list[tuple[str, str]] = []
    out = io.StringIO()
    with mock_aws():
        account = support.create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", account.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", account.table_name)
        monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
        monkeypatch.delenv("FINDINGS_QUEUE_URL", raising=False)
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_group(GroupName="developers")
        for name, keys in (("alice", 1), ("bob", 2), ("carol", 0)):  # passwords, no MFA; bob has two keys
            iam.create_user(UserName=name, Tags=[{"Key": "note", "Value": f"token={GITHUB_TOKEN}"}])
            iam.add_user_to_group(GroupName="developers", UserName=name)
            iam.create_login_profile(UserName=name, Password=STATE_PASSWORD)
            for _ in range(keys):
                secrets.append(iam.create_access_key(UserName=name)["AccessKey"]["SecretAccessKey"])
        iam.create_role(
            RoleName="vendor-integration",
            Description=f"vendor; secret={CLIENT_SECRET}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
                }
            ),
        )

        app = _load_config_app()
        handler = app.logger.registered_handler
        previous = handler.stream
        handler.setStream(_Stdout())
        real_call = botocore.client.BaseClient._make_api_call

        def spy(client, operation, params):  # everything the function sends to AWS
            sent.append(
                (f"{client.meta.service_model.service_name} {operation}", json.dumps(params, default=str))
            )
            return real_call(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
        results = []
        try:
            with contextlib.redirect_stdout(out):
                for name, event in _invocations():
                    results.append((name, app.handler(event, lambda_context)))
        finally:
            handler.setStream(previous)
            monkeypatch.undo()
        findings, alerts_sent = account.findings(), account.alerts()

    logs = out.getvalue()
    assert sum(result["findings"] for _, result in results) >= 8, results
    assert {"securityhub BatchImportFindings", "sns PublishBatch", "config PutEvaluations"} <= {
        what for what, _ in sent
    }
    assert len(findings) >= 8 and len(alerts_sent) >= 4 and '"message":"evaluated"' in logs.replace(" ", "")
    outputs = [
        *sent,
        *((f"Security Hub finding {f['Id']}", json.dumps(f, default=str)) for f in findings),
        *((f"alert {a['Subject']}", json.dumps(a)) for a in alerts_sent),
        ("config handler logs", logs),
        *((f"config handler result {name}", json.dumps(result)) for name, result in results),
    ]
    # A state finding names users and keys by id; the tags and the role's description are not copied out.
    hits = _hits(outputs, needles(secrets) | needles([GITHUB_TOKEN, CLIENT_SECRET]))
    assert not hits, _report(hits)


# -- deployment: no setting makes the functions log whole events --------------------------------------------


def test_no_function_logs_whole_events():
    """Powertools logs every incoming event (with its request parameters and user agent) when
    ``POWERTOOLS_LOGGER_LOG_EVENT`` is true: the templates must not turn it on."""
    for path in (support.ROOT / "template.yaml", support.ROOT / "forwarder.yaml"):
        template = support.load_template(path)
        blocks = [template.get("Globals", {}).get("Function", {})]
        blocks += [
            r.get("Properties", {})
            for r in template["Resources"].values()
            if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
        ]
        for block in blocks:
            variables = (block.get("Environment") or {}).get("Variables") or {}
            assert str(variables.get("POWERTOOLS_LOGGER_LOG_EVENT", "false")).lower() == "false", path.name
    for path in (support.ROOT / "functions").rglob("*.py"):
        assert "log_event=True" not in path.read_text(), path
