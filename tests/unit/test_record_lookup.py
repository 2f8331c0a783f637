"""The record helpers every rule reads through (issue 18 made them cheaper; what they answer must not change):
``lookup`` / ``CloudTrailRecord.request`` / ``response`` match a key exactly first, then ignoring case (the first such
key in the record's order); ``succeeded`` and ``Severity.rank``."""

from __future__ import annotations

import pytest
from identity_auditor.model.cloudtrail import CloudTrailRecord, lookup
from identity_auditor.model.severity import Severity


def _record(**fields) -> CloudTrailRecord:
    return CloudTrailRecord.model_validate({"eventSource": "iam.amazonaws.com", "eventName": "CreateSAMLProvider",
                                            "eventID": "e1", **fields})


def test_request_and_response_take_the_exact_key_first_then_the_first_ignoring_case():
    record = _record(
        requestParameters={"sAMLProviderArn": "lower-a", "SAMLProviderArn": "exact", "samlproviderarn": "third"},
        responseElements={"Role": {"Arn": "arn:aws:iam::111122223333:role/r"}, "role": None},
    )
    assert record.request("SAMLProviderArn") == "exact"
    assert record.request("SAMLPROVIDERARN") == "lower-a"  # no exact key: the first one ignoring case
    assert record.request("missing") is None
    assert record.response("role") is None  # present and null: the exact key, not the other casing
    assert record.response("ROLE") == {"Arn": "arn:aws:iam::111122223333:role/r"}


def test_request_of_a_record_without_parameters_is_none():
    record = _record(requestParameters=None)
    assert record.request("userName") is None and record.response("user") is None


@pytest.mark.parametrize(("block", "path", "expected"), [
    ({"a": {"B": {"c": 1}}}, ("A", "b", "C"), 1),
    ({"a": [1]}, ("a", "b"), None),  # not an object on the way
    ({1: "number key"}, ("1",), "number key"),  # keys that are not text are compared as text
    ({"Key": 1, "KEY": 2}, ("key",), 1),
    ("text", ("a",), None),
])
def test_lookup_walks_a_path_ignoring_case(block, path, expected):
    assert lookup(block, *path) == expected


@pytest.mark.parametrize(("fields", "succeeded"), [
    ({}, True),
    ({"errorCode": "AccessDenied"}, False),
    ({"responseElements": {"ConsoleLogin": "Failure"}}, False),
    ({"serviceEventDetails": {"CredentialVerification": "Failure"}}, False),
    ({"responseElements": {"ConsoleLogin": "Success", "note": ["Failure"]}}, True),  # only a value that is "Failure"
])
def test_succeeded(fields, succeeded):
    assert _record(**fields).succeeded is succeeded


def test_severity_rank_orders_the_labels():
    assert [severity.rank for severity in Severity] == [0, 1, 2, 3, 4]
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.MEDIUM.rank > Severity.LOW.rank
