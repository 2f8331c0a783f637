"""Where the auditor runs, and so where its findings are filed: one account, region and partition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Home:
    """The account, region and partition findings are filed under: the function's own (from its ARN), a
    Config invocation's, or the CLI's current credentials'."""

    account: str
    region: str
    partition: str

    @classmethod
    def from_function_arn(cls, arn: str) -> Home:
        # arn:aws:lambda:us-east-1:123456789012:function:name[:alias]
        parts = arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda":
            raise ValueError(f"not a Lambda function ARN: {arn!r}")
        return cls(account=parts[4], region=parts[3], partition=parts[1])
