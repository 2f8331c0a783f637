"""The CloudFormation template that the SAM transform makes of template.yaml, offline (no AWS call).

Runs in the SAM virtualenv (.venv-sam, which has samtranslator and SAM CLI's YAML loader):

    .venv-sam/bin/python scripts/sam_transform.py [template.yaml] [-o out.json]

It does what `sam validate` does before translating: local CodeUri/ContentUri/DefinitionUri become
placeholder S3 URIs (the translator accepts only S3 locations). The IAM managed-policy lookup that the
translator would make for policy *names* in a function's `Policies` is answered locally with the AWS
managed-policy ARN for that name, so nothing here calls IAM. Parameters take their defaults; conditions
stay in the output as conditions, so conditional resources (the backfill) are present.
The output is JSON: what checkov (`make security`) and tests/contract/test_security_template.py read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_S3 = "s3://identity-auditor-placeholder/{name}"
LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


class _AnyManagedPolicy(dict):
    """Every managed-policy name maps to its AWS managed-policy ARN (no iam:ListPolicies call)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"

    def get(self, name, default=None):  # type: ignore[override]
        return self[name] if isinstance(name, str) else default


class OfflineManagedPolicyLoader:
    def load(self) -> dict[str, str]:
        return _AnyManagedPolicy()


def _replace_local_uris(template: dict) -> None:
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if isinstance(function_globals.get("CodeUri"), str) and not function_globals["CodeUri"].startswith(
        "s3://"
    ):
        function_globals["CodeUri"] = PLACEHOLDER_S3.format(name="globals")
    for name, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        key = LOCAL_URIS.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = PLACEHOLDER_S3.format(name=name)


def transformed(path: Path) -> dict:
    """The SAM-transformed template (plain CloudFormation) of the SAM template at ``path``."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    template = yaml_parse(path.read_text())
    _replace_local_uris(template)
    return transform(template, {}, OfflineManagedPolicyLoader())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = json.dumps(transformed(args.template), indent=1, sort_keys=False, default=str)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
