"""The sequence rules (spec/rules.md §E): one module per sequence, named after its id, each a ``META``
(:class:`~identity_auditor.model.sequence.SequenceMeta`) and pure ``observe`` / ``judge`` functions (see
:mod:`identity_auditor.model.sequence`). They may use the event rules (``identity_auditor.rules``) to decide
whether a record is a step. :data:`SEQUENCES` is the one list: the sequence engine, the routes, the policy
schema and the catalogue read it.
"""

from types import ModuleType

from identity_auditor.sequences import (
    admin_policy_created_then_attached,
    guardrail_removed_then_escalation,
    iam_admin_user_created,
    iam_backdoor_admin_role,
    mfa_removed_then_login_without_mfa,
    password_reset_takeover,
    signin_console_brute_force,
    signin_identity_center_spray,
    signin_mfa_failure_after_password,
)

# In the order of the catalogue (spec/rules.md §E).
SEQUENCES: tuple[ModuleType, ...] = (
    signin_console_brute_force,
    signin_mfa_failure_after_password,
    signin_identity_center_spray,
    iam_admin_user_created,
    iam_backdoor_admin_role,
    mfa_removed_then_login_without_mfa,
    password_reset_takeover,
    guardrail_removed_then_escalation,
    admin_policy_created_then_attached,
)
