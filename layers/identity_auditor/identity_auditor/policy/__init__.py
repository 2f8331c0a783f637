"""The organisation policy document: schema, validation, messages, and where it is read from (SSM,
AppConfig, a file, the packaged default).

:func:`current_policy` is what the functions call for every event; it lives here, apart from the loader, so that
a deployment without a policy source never imports the loader (its pydantic schema of every rule, YAML,
Powertools parameters) at cold start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    from identity_auditor.model.policy import OrgPolicy


def current_policy(settings) -> OrgPolicy:
    """The organisation policy a function runs with: from SSM or AppConfig when the settings name one
    (fetched through Powertools parameters, cached 5 minutes), else the packaged default, with nothing to
    fetch or parse (the loader, Powertools parameters and YAML are not even imported)."""
    if not (settings.policy_ssm_parameter or settings.policy_appconfig):
        return DEFAULT_POLICY
    from identity_auditor.policy.loader import load_policy

    return load_policy(settings)
