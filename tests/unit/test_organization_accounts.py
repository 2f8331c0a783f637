"""``collectors.organization.active_accounts``: every page of ListAccounts, or the accounts under organisational
units walked down (ListChildren, ListAccountsForParent), only those in State ACTIVE. Answers are botocore Stubber
responses in the shapes of the Organizations API reference (moto pages ListAccounts in one page and has no
closing accounts), including the ``State`` field that replaced the retired ``Status``."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
from botocore.stub import Stubber
from identity_auditor.collectors.organization import active_accounts

JOINED = datetime(2024, 1, 1, tzinfo=timezone.utc)


def account(account_id: str, name: str, state: str) -> dict:
    return {"Id": account_id, "Arn": f"arn:aws:organizations::111111111111:account/o-exampleorgid/{account_id}",
            "Email": f"{name}@example.com", "Name": name, "State": state, "JoinedMethod": "CREATED",
            "JoinedTimestamp": JOINED}


def client():
    return boto3.client("organizations", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_every_page_and_only_active_accounts():
    organizations = client()
    with Stubber(organizations) as stub:
        stub.add_response("list_accounts", {"Accounts": [account("111111111111", "management", "ACTIVE"),
                                                         account("222222222222", "closing", "PENDING_CLOSURE")],
                                            "NextToken": "page-2"}, {})
        stub.add_response("list_accounts", {"Accounts": [account("333333333333", "prod", "ACTIVE"),
                                                         account("444444444444", "old", "SUSPENDED"),
                                                         account("555555555555", "gone", "CLOSED")]},
                          {"NextToken": "page-2"})
        assert active_accounts(organizations) == [{"Id": "111111111111", "Name": "management"},
                                                  {"Id": "333333333333", "Name": "prod"}]
        stub.assert_no_pending_responses()


def test_organisational_units_are_walked_down():
    organizations = client()
    with Stubber(organizations) as stub:
        stub.add_response("list_accounts_for_parent", {"Accounts": [account("222222222222", "prod", "ACTIVE")]},
                          {"ParentId": "ou-ab12-11111111"})
        stub.add_response("list_children", {"Children": [{"Id": "ou-ab12-22222222", "Type": "ORGANIZATIONAL_UNIT"}],
                                            "NextToken": "more"},
                          {"ParentId": "ou-ab12-11111111", "ChildType": "ORGANIZATIONAL_UNIT"})
        stub.add_response("list_children", {"Children": []},
                          {"ParentId": "ou-ab12-11111111", "ChildType": "ORGANIZATIONAL_UNIT", "NextToken": "more"})
        stub.add_response("list_accounts_for_parent", {"Accounts": [account("333333333333", "prod-eu", "ACTIVE"),
                                                                    account("444444444444", "old", "SUSPENDED")]},
                          {"ParentId": "ou-ab12-22222222"})
        stub.add_response("list_children", {"Children": []},
                          {"ParentId": "ou-ab12-22222222", "ChildType": "ORGANIZATIONAL_UNIT"})
        assert [a["Id"] for a in active_accounts(organizations, parents=["ou-ab12-11111111"])] == [
            "222222222222", "333333333333"]
        stub.assert_no_pending_responses()
