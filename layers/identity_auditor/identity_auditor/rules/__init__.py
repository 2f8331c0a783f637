"""The rules: one module per rule, named after the rule id, each a ``META`` (:class:`~identity_auditor.model.contract.RuleMeta`)
and a pure ``evaluate(record, ctx)`` and/or ``evaluate_state(snapshot, ctx)``. Helpers that several rules share
live in :mod:`identity_auditor.rules._lib`.

:data:`RULES` is the one list of rules: a rule module that is not in it never runs (the contract test
``tests/contract/test_registry.py`` fails on one), and everything that needs "all rules" (the engine's
registry, the EventBridge patterns, the Config rules, the catalogue, the policy schema) reads it.
"""

from types import ModuleType

from identity_auditor.rules import (
    cloudtrail_logging_disabled,
    cognito_identity_pool_guest_access_enabled,
    config_recording_disabled,
    ds_directory_trust_changed,
    ec2_imdsv1_allowed,
    iam_access_key_created,
    iam_access_key_not_rotated,
    iam_access_key_reactivated,
    iam_credentials_unused,
    iam_login_profile_changed,
    iam_mfa_device_removed,
    iam_oidc_provider_changed,
    iam_password_policy_weak,
    iam_role_trust_policy_unsafe,
    iam_saml_provider_changed,
    iam_user_console_access_without_mfa,
    iam_user_created,
    iam_user_in_federated_account,
    iam_user_multiple_active_access_keys,
    identitystore_manual_change,
    root_access_key_present,
    root_account_used,
    root_hardware_mfa_not_enabled,
    root_mfa_not_enabled,
    signin_console_login_without_mfa,
    signin_identity_center_login_without_mfa,
    sso_account_assignment_changed,
    sso_identity_source_changed,
    sso_permission_set_changed,
    sso_reserved_role_modified,
    sso_user_mfa_device_removed,
)

# In the order of the catalogue (spec/rules.md §A): first wave, second wave, then the state rules (§B).
RULES: tuple[ModuleType, ...] = (
    signin_console_login_without_mfa,
    signin_identity_center_login_without_mfa,
    root_account_used,
    iam_mfa_device_removed,
    iam_access_key_created,
    iam_access_key_reactivated,
    iam_user_created,
    iam_login_profile_changed,
    sso_reserved_role_modified,
    sso_permission_set_changed,
    sso_account_assignment_changed,
    sso_identity_source_changed,
    sso_user_mfa_device_removed,
    identitystore_manual_change,
    iam_saml_provider_changed,
    iam_oidc_provider_changed,
    iam_role_trust_policy_unsafe,
    cloudtrail_logging_disabled,
    config_recording_disabled,
    ds_directory_trust_changed,
    cognito_identity_pool_guest_access_enabled,
    ec2_imdsv1_allowed,
    # State rules (spec/rules.md §B), evaluated by AWS Config; iam_role_trust_policy_unsafe above is both.
    iam_user_console_access_without_mfa,
    iam_access_key_not_rotated,
    iam_credentials_unused,
    iam_user_multiple_active_access_keys,
    root_access_key_present,
    root_mfa_not_enabled,
    root_hardware_mfa_not_enabled,
    iam_password_policy_weak,
    iam_user_in_federated_account,
)
