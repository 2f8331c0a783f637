"""Draw docs/architecture.png: the organisation deployment of identity-auditor.

Run with `make diagram` (a virtualenv .venv-docs with requirements/docs.txt, and Graphviz's `dot` on the
PATH: `apt-get install graphviz`, `brew install graphviz`). The picture is the one in docs/deployment.md;
change this script, not the PNG, and commit both.

Node ids are fixed (not the `diagrams` package's random ones), so the same script gives the same drawing.
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path

import diagrams
from diagrams import Cluster, Diagram, Edge
from diagrams.aws.compute import Lambda
from diagrams.aws.database import Dynamodb
from diagrams.aws.general import Users
from diagrams.aws.integration import (
    EventbridgeCustomEventBusResource,
    EventbridgeDefaultEventBusResource,
    EventbridgeRule,
    SimpleNotificationServiceSnsTopic,
    SimpleQueueServiceSqsQueue,
)
from diagrams.aws.management import CloudformationStack, Cloudtrail, CloudwatchAlarm, Config
from diagrams.aws.security import KMS, IAMRole, SecurityHub

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "architecture"  # .png is added by the renderer

FONT = "Helvetica"
EVENTS = "#1f6feb"  # CloudTrail events on their way to the evaluator
FINDINGS = "#b35900"  # findings, alerts and the member role
FAILURES = "#8b949e"  # dead letters, aggregation: dashed


ICON_POINTS = 72  # icon size; labels go under the icon, and the layout makes room for both
ICONS = Path(diagrams.__file__).resolve().parent.parent  # the package's resources/ folder is beside it


def node(kind, text: str, nodeid: str):
    """A node of the `diagrams` kind ``kind`` drawn as one HTML-like label: the icon above the text.
    (The package's own nodes have a fixed size with the text laid over the icon's box, so long labels
    overlap their neighbours.)"""
    icon = ICONS / kind._icon_dir / kind._icon
    lines = "<BR/>".join(html.escape(line) for line in text.split("\n"))
    label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">'
             f'<TR><TD FIXEDSIZE="TRUE" WIDTH="{ICON_POINTS}" HEIGHT="{ICON_POINTS}">'
             f'<IMG SRC="{html.escape(str(icon))}" SCALE="TRUE"/></TD></TR>'
             f"<TR><TD>{lines}</TD></TR></TABLE>>")
    return kind(label, nodeid=nodeid, image="", shape="plaintext", fixedsize="false", width="0", height="0",
                margin="0")


def edge(label: str = "", color: str = EVENTS, style: str = "solid", **attrs) -> Edge:
    return Edge(label=label, color=color, fontcolor=color, style=style, fontsize="21", fontname=FONT, **attrs)


def draw(output: Path) -> None:
    graph_attr = {
        "fontname": FONT,
        "fontsize": "34",
        "labelloc": "t",
        "pad": "0.4",
        "nodesep": "0.45",
        "ranksep": "0.7",
        "splines": "spline",
        "newrank": "true",
        "dpi": "96",
    }
    node_attr = {"fontname": FONT, "fontsize": "24"}
    edge_attr = {"fontname": FONT, "fontsize": "21", "penwidth": "2.2"}
    cluster = {"fontname": FONT, "fontsize": "25", "margin": "24", "labeljust": "l"}

    with Diagram(
        "identity-auditor across an AWS Organization",
        filename=str(output),
        direction="TB",
        outformat="png",
        show=False,
        graph_attr=graph_attr,
        node_attr=node_attr,
        edge_attr=edge_attr,
    ):
        # Drawn top to bottom: the accounts whose events are watched, then the security account, then the
        # member role and Security Hub that the publisher reaches. Invisible edges put nodes without inputs
        # on the right row; the aggregation edge does not constrain the layout.
        invisible = {"style": "invis"}
        loose = {"constraint": "false"}

        with Cluster("Management account: forwarder.yaml deployed by hand", graph_attr=cluster):
            trail_mgmt = node(Cloudtrail, "CloudTrail\n(Identity Center,\nroot user)", "trail_mgmt")
            forwarder_mgmt = node(CloudformationStack, "forwarder stack\n(rules, DLQ,\nmember role)",
                                  "fwd_mgmt")
            trail_mgmt >> edge() >> forwarder_mgmt

        with Cluster("Member accounts (StackSet), every\nregion of ForwarderRegions", graph_attr=cluster):
            trail = node(Cloudtrail, "CloudTrail\n(organisation\ntrail)", "trail")
            default_bus = node(EventbridgeDefaultEventBusResource, "default bus", "member_bus")
            forward = node(EventbridgeRule, "forwarder rules\n<stack>-<route>", "forward")
            member_dlq = node(SimpleQueueServiceSqsQueue, "forwarder DLQ", "member_dlq")
            config = node(Config, "AWS Config\norganisation\nrules", "config")

            trail >> edge() >> default_bus >> edge() >> forward
            forward >> edge("undeliverable", FAILURES, "dashed") >> member_dlq
            forward >> Edge(**invisible) >> config

        with Cluster("Security account: the auditor's stack (template.yaml), us-east-1", graph_attr=cluster):
            central_bus = node(EventbridgeCustomEventBusResource,
                               "<stack>-organization\nbus (aws:Principal-\nOrgID policy)", "central_bus")
            own_bus = node(EventbridgeDefaultEventBusResource, "default bus\n(this account)", "own_bus")
            evaluator = node(Lambda, "CloudTrail\nEvaluator", "evaluator")
            config_evaluator = node(Lambda, "ConfigRule\nEvaluator", "config_evaluator")
            events_dlq = node(SimpleQueueServiceSqsQueue, "events DLQ", "events_dlq")
            table = node(Dynamodb, "de-duplication\ntable", "table")
            queue = node(SimpleQueueServiceSqsQueue, "FindingsQueue", "queue")
            findings_dlq = node(SimpleQueueServiceSqsQueue, "findings DLQ", "findings_dlq")
            publisher = node(Lambda, "Findings\nPublisher", "publisher")
            topic = node(SimpleNotificationServiceSnsTopic, "findings topic", "topic")
            admin_hub = node(SecurityHub, "Security Hub CSPM\ndelegated admin,\naggregation region",
                             "admin_hub")
            stack_set = node(CloudformationStack, "ForwarderStackSet\n(service-managed)", "stack_set")
            key = node(KMS, "stack KMS key", "key")
            alarms = node(CloudwatchAlarm, "alarms:\nOperationsTopic", "alarms")

            central_bus >> edge("rules") >> evaluator
            own_bus >> edge("rules") >> evaluator
            central_bus >> Edge(**invisible) >> config_evaluator
            evaluator >> edge("failed", FAILURES, "dashed") >> events_dlq
            evaluator >> edge("once", FINDINGS, "dotted") >> table
            evaluator >> edge("findings", FINDINGS) >> queue
            config_evaluator >> edge("findings", FINDINGS) >> queue
            queue >> Edge(**invisible) >> key
            queue >> Edge(**invisible) >> alarms
            queue >> edge(color=FINDINGS) >> publisher
            queue >> edge("10 receives", FAILURES, "dashed") >> findings_dlq
            publisher >> edge("alert once", FINDINGS) >> topic
            publisher >> edge("own account", FINDINGS) >> admin_hub

        bottom_label = {**cluster, "labelloc": "b"}  # arrows come in from the top
        with Cluster("Member account (the same accounts), us-east-1", graph_attr=bottom_label):
            member_role = node(IAMRole, "member role\n(from the\nforwarder stack)", "member_role")
            member_hub = node(SecurityHub, "Security Hub\nCSPM", "member_hub")
            member_role >> edge("import", FINDINGS) >> member_hub

        people = node(Users, "e-mail, chat\n(Slack, Teams)", "people")
        topic >> edge(color=FINDINGS) >> people

        forward >> edge("PutEvents: cross-account,\ncross-region", penwidth="2.6") >> central_bus
        forwarder_mgmt >> edge("PutEvents", penwidth="2.6") >> central_bus
        forwarder_mgmt >> Edge(**invisible) >> own_bus
        forwarder_mgmt >> Edge(**invisible) >> stack_set
        config >> edge("invoke", FINDINGS) >> config_evaluator
        config_evaluator >> edge("AssumeRole:\nIAM reads,\nPutEvaluations", FINDINGS) >> member_role
        publisher >> edge("AssumeRole", FINDINGS) >> member_role
        member_hub >> edge("aggregated", FAILURES, "dashed", **loose) >> admin_hub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="output file without .png (default: docs/architecture)")
    args = parser.parse_args(argv)
    if shutil.which("dot") is None:
        print("diagram: Graphviz's dot is not on the PATH: apt-get install graphviz (brew install graphviz)",
              file=sys.stderr)
        return 2
    output = args.output.with_suffix("") if args.output.suffix == ".png" else args.output
    draw(output)
    print(f"wrote {output}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
