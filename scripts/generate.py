"""make generate: regenerate what is derived from the rule registry.

- template.yaml: the EventBridge rules (patterns, regions, states) between the "event routes" markers,
  the rules on the organisation's central event bus between the "organization event routes" markers,
  and the AWS Config rules (per account, per organisation) of each state rule between the "config rules"
  markers;
- forwarder.yaml: the member accounts' forwarding rules between the "forwarder routes" markers;
- README.md: the rule table between the "rules" markers.

Contract tests fail when either is stale, so run this after adding or changing a rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

from identity_auditor.deploy import catalogue, org_routes
from identity_auditor.deploy import routes as template_routes
from identity_auditor.engine.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def _update(path: Path, replace) -> None:
    text = path.read_text()
    updated = replace(text)
    print(f"{path.name}: {'regenerated' if updated != text else 'already up to date'}")
    if updated != text:
        path.write_text(updated)


def main() -> int:
    _update(ROOT / "template.yaml",
            lambda text: template_routes.replace_block(text, template_routes.render(REGISTRY.routes())))
    _update(ROOT / "template.yaml",
            lambda text: template_routes.replace_config_block(
                text, template_routes.render_config_rules(REGISTRY.state_rules())))
    routes = REGISTRY.routes()
    _update(ROOT / "template.yaml",
            lambda text: org_routes.replace(text, org_routes.CENTRAL_BEGIN, org_routes.CENTRAL_END,
                                            org_routes.render_central(routes)))
    _update(ROOT / "forwarder.yaml",
            lambda text: org_routes.replace(text, org_routes.FORWARDER_BEGIN, org_routes.FORWARDER_END,
                                            org_routes.render_forwarder(routes)))
    _update(ROOT / "README.md",
            lambda text: catalogue.replace_readme_block(text, catalogue.readme_block(REGISTRY)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
