"""Whether an IAM permissions policy grants administrative power (spec/rules.md §A, ``iam_admin_policy_attached``;
shared with ``sts_federation_token_issued`` for session policies), or every action on every resource (§B).

:func:`admin_grant` answers with the reason, in the words of the first ``Allow`` statement that grants it, or
``None``. A statement grants administrative power when it is ``Effect: Allow`` and

* its ``Action`` covers every IAM action (``*``, ``iam:*``, ``*:*``, ``iam:?*``, ``IAM:*``: any pattern that
  matches every ``iam:`` action; ``iam:Get*``, ``iam:*Policy`` or ``s3:*`` do not) and its resources cover every
  IAM resource of an account: ``Resource`` ``*``, a pattern that matches every ARN (``arn:aws:*``,
  ``arn:*:*:*:*:*``), one that matches every IAM resource of an account (``arn:aws:iam::111122223333:*``,
  ``arn:aws:iam::*:*``: IAM power over the account's own users, roles and policies lets the holder grant itself
  the rest), or ``NotResource`` whose values leave every IAM resource in (everything but an S3 bucket); or
* it uses ``NotAction`` (every action but the listed ones, whatever they are: the spec's rule) on every resource
  (``Resource`` ``*`` or an every-ARN pattern, or such a ``NotResource``).

A statement with a ``Condition`` still grants it (the reason names the condition keys). ``Deny`` statements are
not weighed against a grant: a deny can be removed later, the grant is the signal. Narrower grants are not
judged: ``iam:*`` on ``arn:aws:iam::111122223333:user/*`` alone, or ``NotAction`` on IAM resources only.

Wildcards are IAM's: ``*`` any run of characters, ``?`` one character, nothing else (``[`` is literal). Actions
match ignoring case, resources (ARNs) exactly. Element names and ``Effect`` are read ignoring case;
``Statement``, ``Action``, ``NotAction``, ``Resource`` and ``NotResource`` may be one value or a list.

:func:`full_admin` answers the narrower question of FSBP IAM.1 / CIS "full ``*:*`` administrative privileges"
(``iam_policy_full_admin``): an ``Allow`` statement with an ``Action`` covering every action of every service on a
``Resource`` covering every ARN; ``iam:*``, ``NotAction`` and ``NotResource`` do not count there.

Input as in :func:`identity_auditor.rules._lib.trust.parse_policy`: a dict, JSON, or URL-encoded JSON.
Malformed input raises :class:`ValueError` naming what is wrong: not JSON, not an object, no ``Statement``, a
``Statement`` that is neither an object nor a list. Partly unreadable documents are judged as far as they can
be: a readable statement that grants administrative power is the answer whatever else the document holds;
otherwise the unreadable part (a statement that is not an object, an ``Effect`` other than Allow/Deny, an Allow
without ``Action``/``NotAction`` or without ``Resource``/``NotResource``, a value that is not a string) could
have been the grant, so the answer is not ``None`` but a :class:`ValueError` naming the first such part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from identity_auditor.model.cloudtrail import lookup
from identity_auditor.rules._lib.trust import parse_policy

# A character no policy pattern contains: in a probe it stands for "anything", only a wildcard matches it.
_ANY = "\x00"
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
# Every ARN of a partition: service, region and account empty or not, resource ids with / and :.
_ARN_PROBES = tuple(
    f"{service}:{region}:{account}:{resource}"
    for service in (_ANY, _ANY * 3)
    for region in ("", _ANY)
    for account in ("", _ANY * 12)
    for resource in (_ANY, f"{_ANY}/{_ANY}", f"{_ANY}:{_ANY}")
)
# Every IAM resource of one account (after ``arn:<partition>:iam::<account>:``).
_IAM_PROBES = tuple(
    f"{kind}{_ANY}{suffix}"
    for kind in ("user/", "role/", "group/", "policy/", "instance-profile/", "mfa/", "oidc-provider/",
                 "saml-provider/", "server-certificate/", "")
    for suffix in ("", f"/{_ANY}")
)
_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_MAX_KEYS = 3


class _Unreadable(Exception):
    """A part of the document that cannot be judged (its message says which)."""


def admin_grant(document: str | dict | Any) -> str | None:
    """Why ``document`` grants administrative power (e.g. ``"Statement[0] allows Action * on Resource *"``),
    or ``None`` when it does not; :class:`ValueError` when it cannot be read well enough to say (module docs)."""
    return _first_grant(document, _grant, "grants administrative power")


def full_admin(document: str | dict | Any) -> str | None:
    """Why ``document`` allows every action on every resource (``"Statement[0] allows Action * on Resource *"``),
    or ``None`` when it does not; :class:`ValueError` when it cannot be read well enough to say.

    This is FSBP IAM.1's and CIS's "full ``*:*`` administrative privileges", narrower than :func:`admin_grant`:
    an ``Allow`` statement whose ``Action`` holds a pattern matching every action of every service (``*``,
    ``*:*``, ``*?``; not ``iam:*``, not ``s3:*``) and whose ``Resource`` holds one matching every ARN (``*``,
    ``arn:aws:*``). ``NotAction`` and ``NotResource`` statements are not judged (however much they grant, they
    are not "``*`` on ``*``": :func:`admin_grant` weighs them). A ``Condition`` does not clear a statement (the
    reason names its keys). Input, wildcards and unreadable documents as in the module docs."""
    return _first_grant(document, _full_admin_grant, "allows every action on every resource")


def _first_grant(document: str | dict | Any, judge: Callable[[Any, int], str | None], what: str) -> str | None:
    """The first readable statement's grant by ``judge``; ``None`` when no statement grants and all were read;
    :class:`ValueError` when none grants and some part could not be read (it could have been the grant)."""
    policy = parse_policy(document, "policy")
    statements = lookup(policy, "Statement")
    if statements is None:
        raise ValueError("policy has no Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise ValueError(f"policy Statement must be an object or a list, not {_kind(statements)}")
    unreadable: list[str] = []
    for index, statement in enumerate(statements):
        try:
            reason = judge(statement, index)
        except _Unreadable as problem:
            unreadable.append(str(problem))
            continue
        if reason:
            return reason
    if unreadable:
        raise ValueError(f"policy {unreadable[0]}, so whether it {what} cannot be told")
    return None


_Elements = tuple[str, list[str] | None, list[str] | None, list[str] | None, list[str] | None]


def _allow(statement: Any, index: int) -> _Elements | None:
    """An ``Allow`` statement as (where, Action, NotAction, Resource, NotResource), an absent element ``None``;
    ``None`` for a ``Deny``; :class:`_Unreadable` when the statement cannot be read."""
    if not isinstance(statement, dict):
        raise _Unreadable(f"Statement[{index}] is {_kind(statement)}, not an object")
    sid = lookup(statement, "Sid")
    where = f"Statement[{index}]" + (f" (Sid {sid})" if isinstance(sid, str) and sid else "")
    effect = lookup(statement, "Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise _Unreadable(f"{where} has Effect {effect!r}, neither Allow nor Deny")
    if effect.lower() == "deny":
        return None
    actions, not_actions = _strings(statement, "Action", where), _strings(statement, "NotAction", where)
    if actions is None and not_actions is None:
        raise _Unreadable(f"{where} has neither Action nor NotAction")
    resources, not_resources = _strings(statement, "Resource", where), _strings(statement, "NotResource", where)
    if resources is None and not_resources is None:
        raise _Unreadable(f"{where} has neither Resource nor NotResource")
    return where, actions, not_actions, resources, not_resources


def _grant(statement: Any, index: int) -> str | None:
    elements = _allow(statement, index)
    if elements is None:
        return None
    where, actions, not_actions, resources, not_resources = elements
    if actions is not None:
        action = next((a for a in actions if _covers_iam_actions(a)), None)
        on = _on_iam_resources(resources, not_resources) if action is not None else None
        grant = f"Action {action}"
    else:
        on = _on_every_resource(resources, not_resources)
        grant = f"every action except {', '.join(not_actions) or '(none)'}"
    return f"{where} allows {grant} on {on}{_condition(statement)}" if on else None


def _full_admin_grant(statement: Any, index: int) -> str | None:
    elements = _allow(statement, index)
    if elements is None:
        return None
    where, actions, _, resources, _ = elements
    if actions is None or resources is None:  # NotAction / NotResource: not "* on *" (admin_grant's concern)
        return None
    action = next((a for a in actions if _covers_every_action(a)), None)
    resource = next((r for r in resources if _covers_every_arn(r)), None)
    if action is None or resource is None:
        return None
    return f"{where} allows Action {action} on Resource {resource}{_condition(statement)}"


def _strings(statement: dict, name: str, where: str) -> list[str] | None:
    """An element's values (one string or a list of strings), or ``None`` when the element is absent."""
    value = lookup(statement, name)
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in values):
        raise _Unreadable(f"{where} {name} holds {_kind(next(v for v in values if not isinstance(v, str)))}, "
                          "not a string")
    return values


def _condition(statement: dict) -> str:
    block = lookup(statement, "Condition")
    if not isinstance(block, dict) or not block:
        return ""
    keys = sorted({str(key) for entries in block.values() if isinstance(entries, dict) for key in entries})
    shown = ", ".join(keys[:_MAX_KEYS]) + (f" and {len(keys) - _MAX_KEYS} more" if len(keys) > _MAX_KEYS else "")
    return f" (under a Condition on {shown})" if shown else " (under a Condition)"


# -- what a pattern covers ---------------------------------------------------------------------------------------


def _matches(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character, everything else literal. Greedy
    with one remembered star, so at worst proportional to len(pattern) * len(text) (patterns come from records:
    a regular expression with many ``.*`` could backtrack for ever)."""
    if ignore_case:
        pattern, text = pattern.lower(), text.lower()
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, t, p + 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            return False
    return all(char == "*" for char in pattern[p:])


def _covers_iam_actions(pattern: str) -> bool:
    """``pattern`` matches every ``iam:`` action. It does when it matches ``iam:`` followed by k characters that
    only a wildcard can match, for every k up to one more than its length (beyond that a ``*`` absorbs the rest)."""
    return all(_matches(pattern, "iam:" + _ANY * length, True) for length in range(1, len(pattern) + 2))


def _covers_every_action(pattern: str) -> bool:
    """``pattern`` matches every action of every service: ``<service>:<action>`` with a service prefix of two or
    more characters (``s3``, ``ec2``) and an action name of one or more. A literal character other than ``:``
    leaves services out, and a pattern with more than four characters that are not ``*`` misses ``s3:X``; what
    is left (at most nine characters once runs of ``*`` are one) is probed like :func:`_covers_iam_actions`."""
    if any(char not in "*?:" for char in pattern):
        return False
    pattern = re.sub(r"\*+", "*", pattern)
    if len(pattern.replace("*", "")) > 4:
        return False
    lengths = range(1, len(pattern) + 3)
    return all(_matches(pattern, f"{_ANY * service}:{_ANY * action}", True)
               for service in lengths if service >= 2 for action in lengths)


def _covers_every_arn(pattern: str) -> bool:
    if pattern == "*":
        return True
    return any(all(_matches(pattern, f"arn:{partition}:{probe}") for probe in _ARN_PROBES) for partition in _PARTITIONS)


def _covers_iam_of_an_account(pattern: str) -> bool:
    if _covers_every_arn(pattern):
        return True
    accounts = {*_ACCOUNT.findall(pattern), _ANY * 12}
    return any(
        all(_matches(pattern, f"arn:{partition}:iam::{account}:{probe}") for probe in _IAM_PROBES)
        for partition in _PARTITIONS
        for account in accounts
    )


def _leaves_iam_in(not_resources: list[str]) -> bool:
    """``NotResource`` excludes none of an account's IAM resources (whichever account and partition)."""
    probes = [f"arn:{partition}:iam::{_ANY * 12}:{probe}" for partition in _PARTITIONS for probe in _IAM_PROBES]
    return not any(_matches(value, probe) for value in not_resources for probe in probes)


def _on_iam_resources(resources: list[str] | None, not_resources: list[str] | None) -> str | None:
    if resources is not None:
        resource = next((r for r in resources if _covers_iam_of_an_account(r)), None)
        return f"Resource {resource}" if resource is not None else None
    return _not_resource(not_resources or [])


def _on_every_resource(resources: list[str] | None, not_resources: list[str] | None) -> str | None:
    if resources is not None:
        resource = next((r for r in resources if _covers_every_arn(r)), None)
        return f"Resource {resource}" if resource is not None else None
    return _not_resource(not_resources or [])


def _not_resource(not_resources: list[str]) -> str | None:
    if not _leaves_iam_in(not_resources):
        return None
    return f"every resource except {', '.join(not_resources)}" if not_resources else "every resource"


def _kind(value: Any) -> str:
    return {"NoneType": "null", "list": "a list", "dict": "an object", "str": "a string", "bool": "a boolean",
            "int": "a number", "float": "a number"}.get(type(value).__name__, type(value).__name__)
