"""Whether an IAM permissions policy grants administrative power (spec/rules.md §A, ``iam_admin_policy_attached``;
shared with ``sts_federation_token_issued`` for session policies).

A document grants administrative power when it has an ``Allow`` statement on ``Resource`` ``*`` whose
``Action`` covers ``*`` or ``iam:*`` (a wildcard such as ``iam:*`` or ``*:*`` counts; ``iam:Get*`` does not), or an
``Allow`` with ``NotAction`` on ``Resource`` ``*`` (everything but a few actions). ``Deny`` statements are
not weighed against it: a deny can be removed later, the grant is the signal. Element names and ``Effect``
are read ignoring case; ``Action`` and ``Resource`` may be one value or a list. Input as in
:func:`identity_auditor.rules._lib.trust.parse_policy` (dict, JSON, URL-encoded JSON); malformed input
raises :class:`ValueError` naming what is wrong.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from identity_auditor.rules._lib.trust import _get, _values, parse_policy

# Actions whose grant on every resource is administrative power (IAM lets its holder grant itself the rest).
_ADMIN_ACTIONS = ("*", "iam:*")


def admin_grant(document: str | dict | Any) -> str | None:
    """Why ``document`` grants administrative power (``"Action * on Resource *"``, ``"NotAction on
    Resource *"``, in the words of its first such statement), or ``None`` when it does not."""
    policy = parse_policy(document)
    statements = _get(policy, "Statement")
    if statements is None:
        raise ValueError("policy has no Statement")
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if not isinstance(statement, dict) or str(_get(statement, "Effect") or "").lower() != "allow":
            continue
        if "*" not in _values(_get(statement, "Resource")):
            continue
        where = f"Statement[{index}]" + (f" ({sid})" if (sid := _get(statement, "Sid")) else "")
        actions = _get(statement, "Action")
        if actions is None and _get(statement, "NotAction") is not None:
            return f"{where} allows every action but {', '.join(_values(_get(statement, 'NotAction')))} on Resource *"
        for action in _values(actions):
            if any(fnmatchcase(admin, action.lower()) for admin in _ADMIN_ACTIONS):
                return f"{where} allows Action {action} on Resource *"
    return None
