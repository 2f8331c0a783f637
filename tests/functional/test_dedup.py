"""A redelivered CloudTrail event never pages twice (Powertools idempotency on DynamoDB, in moto).

EventBridge delivers at least once and an organisation trail plus an account trail deliver the same
record in two envelopes: both cases must give one Security Hub finding and one SNS alert.
"""

from __future__ import annotations

import copy
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from identity_auditor.sinks import SinkError
from support import invictus_event

LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
LOGIN_WITH_MFA = "8feee4c2-5e27-4857-8475-bfa7e7b6d791"


def _items(table_name: str) -> list[dict]:
    """The de-duplication records of the table (it also keeps the sequences' steps, spec §E)."""
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table_name)["Items"]
    return [item for item in items if not item["id"]["S"].startswith("identity-auditor#sequence#")]


def test_the_same_event_delivered_twice_pages_once(module, account, lambda_context):
    event = invictus_event(LOGIN_WITHOUT_MFA)
    first = module.handler(event, lambda_context)
    second = module.handler(copy.deepcopy(event), lambda_context)
    assert first["findings"] == second["findings"] and len(first["findings"]) == 1
    assert second["delivered"] == first["delivered"] == {"securityhub": 1, "sns": 1}  # the stored result
    assert len(account.findings()) == 1
    assert len(account.alerts()) == 1
    assert len(_items(account.table_name)) == 1


def test_the_same_record_in_two_envelopes_pages_once(module, account, lambda_context):
    organisation_trail = invictus_event(LOGIN_WITHOUT_MFA)
    account_trail = {**copy.deepcopy(organisation_trail), "id": str(uuid.uuid4()), "time": "2023-07-10T12:23:40Z"}
    assert organisation_trail["id"] != account_trail["id"]
    module.handler(organisation_trail, lambda_context)
    module.handler(account_trail, lambda_context)
    assert [f["Id"] for f in account.findings()] == module.handler(account_trail, lambda_context)["findings"]
    assert len(account.alerts()) == 1


def test_a_failed_publish_is_published_again_on_retry(module, account, lambda_context, monkeypatch):
    event = invictus_event(LOGIN_WITHOUT_MFA)
    sink = next(s for s in module.DELIVERY.sinks(lambda_context) if s.name == "securityhub")
    real_import = sink.client.batch_import_findings
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not subscribed"}},
                         "BatchImportFindings")

    def refuse(**kwargs):
        raise denied

    monkeypatch.setattr(sink.client, "batch_import_findings", refuse)
    with pytest.raises(SinkError):
        module.handler(event, lambda_context)
    assert account.findings() == []
    assert _items(account.table_name) == []  # the failure left no record: the retry must publish

    monkeypatch.setattr(sink.client, "batch_import_findings", real_import)
    retried = module.handler(copy.deepcopy(event), lambda_context)
    assert retried["delivered"] == {"securityhub": 1, "sns": 1}
    assert len(account.findings()) == 1
    assert len(account.alerts()) == 2  # the first attempt's alert went out before Security Hub failed


def test_events_without_findings_never_touch_the_table(module, account, lambda_context):
    result = module.handler(invictus_event(LOGIN_WITH_MFA), lambda_context)
    assert result["findings"] == [] and result["delivered"] == {}
    assert _items(account.table_name) == []


def test_a_record_without_event_id_is_keyed_on_its_content(module, account, lambda_context):
    event = invictus_event(LOGIN_WITHOUT_MFA)
    del event["detail"]["eventID"]
    module.handler(event, lambda_context)
    module.handler({**copy.deepcopy(event), "id": str(uuid.uuid4())}, lambda_context)
    assert len(account.findings()) == 1  # same finding Id (a hash of the record)
    assert len(account.alerts()) == 1
    other = copy.deepcopy(event)
    other["detail"]["eventTime"] = "2023-07-10T12:29:00Z"  # another login of the same user
    module.handler(other, lambda_context)
    assert len(account.alerts()) == 1  # alerts() drains the queue: this is the new login's alert
    assert len(account.findings()) == 2
