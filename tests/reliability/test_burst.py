"""A burst of findings produced at once reaches Security Hub exactly once each, within its rate limit.

An incident (a compromised admin creating users and keys, a script gone wrong) makes thousands of
findings in seconds. The evaluators queue them; the publisher imports 100 a call while Security Hub
throttles above 10 requests a second (bursts of 30), emulated by a token bucket in front of moto. Every
finding must arrive once, every alert be sent once, and nothing reach the dead-letter queue.

The quota, botocore's backoff and adaptive rate limiter and the publisher's own retries all run on a
fake clock (tests/fake_time.py): every wait happens, in virtual seconds, so the test throttles and
retries exactly as on the real clock without waiting the ~10 s of refills and backoffs.

Default size 1,000 findings; ``pytest --full`` (``make test-full``) runs the 5,000 of the issue.
"""

from __future__ import annotations

import time

from fake_time import FakeClock, fake_botocore_time
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_sinks
from identity_auditor.model.home import Home
from identity_auditor.sinks import publish_all
from pipeline import ImportSpy, TokenBucket, inject, record_ledger
from support import copies, findings_from, invictus_event

LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
HOME = "123456789012"


def burst(count: int) -> list:
    """``count`` distinct findings of a real console login without MFA, as an incident produces them."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    return copies(finding, count)


def test_a_burst_of_findings_reaches_security_hub_exactly_once_under_throttling(
        pipeline, account, full_size, capsys, monkeypatch):
    count = 5000 if full_size else 1000
    clock = fake_botocore_time(monkeypatch, FakeClock())  # before the publisher's clients are built
    queue = build_sinks(Settings.from_env(), Home(HOME, "us-east-1", "aws"))
    started = time.monotonic()
    assert publish_all(queue, burst(count)) == {"queue": count}  # produced at once
    produced = time.monotonic() - started
    assert pipeline.depth() == count

    publisher = pipeline.publisher_clients()
    publisher.retry_policy = RetryPolicy(sleep=clock.sleep)  # the default policy, on the fake clock
    securityhub = publisher._securityhub(HOME)
    # The account's quota is 10 requests a second (bursts of 30), shared with every other integration
    # that imports findings: this publisher is given a tenth of it.
    quota = TokenBucket(rate=1, burst=2, tokens=2, clock=clock)
    inject(securityhub, "BatchImportFindings", quota)
    spy = ImportSpy(securityhub)

    started, virtual_start = time.monotonic(), clock()
    run = pipeline.drain(batch_size=500)
    published, waited = time.monotonic() - started, clock() - virtual_start

    ids = [finding["Id"] for page in account.securityhub.get_paginator("get_findings").paginate()
           for finding in page["Findings"]]
    assert len(ids) == count and len(set(ids)) == count
    assert set(spy.accepted.values()) == {1}, "a finding was imported more than once"
    assert len(spy.accepted) == count
    assert spy.calls == count // 100  # 100 findings a call: the fewest calls the limits allow
    assert quota.throttled > 0, "the quota never throttled: the test did not exercise throttling"
    alerts = account.alerts()
    assert len(alerts) == count
    assert len({alert["MessageId"] for alert in alerts}) == count
    assert pipeline.depth() == 0 and pipeline.depth(pipeline.dlq_url) == 0
    assert run.returned == 0 and run.failed_invocations == 0
    # The publisher waited for the quota's refills, on the fake clock: at least a second for each call
    # beyond the burst of 2.
    assert waited >= spy.calls - 2
    record_ledger(f"{count} in -> {len(ids)} in Security Hub once each ({spy.calls} calls accepted, "
                  f"{quota.throttled} throttled and retried), {len(alerts)} alerts once each, 0 dead-lettered; "
                  f"published in {waited:.0f} s of quota time ({published:.1f} s wall clock)")
    with capsys.disabled():
        print(f"\nburst: {count} findings queued in {produced:.1f} s and published in {published:.1f} s by "
              f"{run.invocations} publisher invocations ({waited:.1f} s of waiting on the fake clock, in "
              f"{clock.sleeps} sleeps): {spy.calls} BatchImportFindings calls accepted, "
              f"{quota.throttled} throttled (and retried); {len(ids)} findings in Security Hub, each imported "
              f"once; {len(alerts)} alerts, each sent once; 0 dead-lettered")
