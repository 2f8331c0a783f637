"""What every report says, computed once: counts by severity, rule and account, and the compliance table
(each CIS and FSBP control a rule maps to, with its verdict and the evidence for it).

A control's verdict comes from what the run saw:

* ``FAIL``: a finding that is not suppressed, or a state result NON_COMPLIANT, names the control;
* ``SUPPRESSED``: it failed, but only on findings the organisation policy suppressed;
* ``PASS``: state results judged resources under it and all were COMPLIANT (``audit-account``);
* ``NOT APPLICABLE``: state results judged it and found nothing in scope;
* ``INCOMPLETE``: it would pass (or be not applicable), but the run did not cover everything it should have
  judged: an account of the organisation could not be read, or one of the control's rules could not run in an
  account (what was not covered is listed in the report: :attr:`Summary.gaps`). A failure stays a failure.

``evaluate`` judges activity, not state: a control with no finding there is not listed as passing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from identity_auditor.model.severity import Severity
from identity_auditor.model.text import clean

# The compliance ids rules carry in META.compliance (spec: "Compliance ids"), what each prefix stands for.
FRAMEWORKS: dict[str, str] = {
    "CIS5": "CIS Amazon Web Services Foundations Benchmark v5.0.0",
    "CIS3": "CIS Amazon Web Services Foundations Benchmark v3.0.0",
    "FSBP": "AWS Foundational Security Best Practices (Security Hub controls)",
}
# The sections of the CIS AWS Foundations Benchmark (the same in v3.0.0 and v5.0.0).
CIS_SECTIONS = {"1": "Identity and Access Management", "2": "Storage", "3": "Logging", "4": "Monitoring",
                "5": "Networking"}
FSBP_SECTIONS = {"IAM": "IAM controls"}

PASS, FAIL, SUPPRESSED, NOT_APPLICABLE, INCOMPLETE = "PASS", "FAIL", "SUPPRESSED", "NOT APPLICABLE", "INCOMPLETE"
_STATUS_ORDER = {FAIL: 0, SUPPRESSED: 1, PASS: 2, NOT_APPLICABLE: 3}


@dataclass(frozen=True)
class Evidence:
    """One resource or event behind a control's verdict."""

    status: str  # PASS, FAIL, SUPPRESSED, NOT APPLICABLE
    rule_id: str
    account: str
    resource: str
    text: str  # what was checked or found (the state result's annotation, the finding's description)


@dataclass
class Control:
    framework: str  # CIS5, CIS3, FSBP
    control: str  # 1.4, IAM.5
    rules: set[str] = field(default_factory=set)
    evidence: list[Evidence] = field(default_factory=list)
    incomplete: bool = False  # the run did not judge everything under it (Summary.gaps)

    @property
    def ref(self) -> str:
        return f"{self.framework} {self.control}"

    @property
    def section(self) -> str:
        head = self.control.split(".", 1)[0]
        names = FSBP_SECTIONS if self.framework == "FSBP" else CIS_SECTIONS
        return f"{head} {names[head]}" if head in names else head

    @property
    def status(self) -> str:
        statuses = {e.status for e in self.evidence}
        for status in (FAIL, SUPPRESSED):
            if status in statuses:
                return status
        if self.incomplete:
            return INCOMPLETE
        return PASS if PASS in statuses else NOT_APPLICABLE

    def count(self, status: str) -> int:
        return sum(1 for e in self.evidence if e.status == status)


def parse_ref(ref: str) -> tuple[str, str] | None:
    """``"CIS5 1.4"`` -> ``("CIS5", "1.4")``; None for what is not ``<framework> <control>``."""
    framework, _, control = ref.strip().partition(" ")
    return (framework, control.strip()) if framework and control.strip() else None


def _control_key(control: Control) -> tuple:
    frameworks = list(FRAMEWORKS)
    rank = frameworks.index(control.framework) if control.framework in frameworks else len(frameworks)
    parts = tuple(int(p) if p.isdigit() else 0 for p in control.control.replace("IAM.", "").split("."))
    return rank, control.framework, parts, control.control


def is_state(finding) -> bool:
    """A finding about a resource's state (AWS Config path, ``audit-account``), not about an event."""
    from identity_auditor.model.findings import STATE_ACTOR

    return finding.event_id is None and finding.actor == STATE_ACTOR


def evaluation_status(evaluation) -> str | None:
    """The verdict of one state evaluation as report status (None for an account's summing evaluation)."""
    finding = evaluation.finding
    if finding is None:
        return None
    value = getattr(evaluation.compliance, "value", evaluation.compliance)
    if value == "NON_COMPLIANT":
        return SUPPRESSED if finding.suppression is not None else FAIL
    return PASS if value == "COMPLIANT" else NOT_APPLICABLE


def passed_findings(evaluations: Iterable) -> list:
    """The PASSED findings of the COMPLIANT state results (``--evidence``): what was checked and found right."""
    return [e.finding for e in evaluations if evaluation_status(e) == PASS]


@dataclass
class Summary:
    findings: list  # the findings shown (FAILED: not the evidence of --evidence), most severe first
    evaluations: list  # the state results that judged a resource (audit-account); [] for evaluate
    by_severity: dict[Severity, int]
    by_rule: list[tuple[str, str, Severity, int]]  # rule id, title, highest severity, count
    by_account: list[tuple[str, dict[Severity, int], int, int]]  # account, counts, compliant, non-compliant
    controls: list[Control]
    suppressed: int
    verdicts: dict[str, int]  # PASS / FAIL / SUPPRESSED / NOT APPLICABLE -> state results
    gaps: list[str] = field(default_factory=list)  # what the run could not cover: accounts unread, rules not run

    @property
    def accounts(self) -> list[str]:
        return [row[0] for row in self.by_account]


def summarise(findings: Sequence, evaluations: Sequence = (), *, gaps: Sequence[str] = (),
              rules_not_run: Iterable[str] = (), accounts_unread: int = 0) -> Summary:
    """The report's figures from the findings shown and (``audit-account``) every state result. ``gaps``: what
    the run could not cover, one line each; a control is INCOMPLETE rather than PASS when ``accounts_unread``
    or one of its rules is in ``rules_not_run``."""
    # the PASSED findings of `audit-account --evidence` are evidence, not findings: the state results count them
    from identity_auditor.cli.table import table_order

    given, findings = list(findings), sorted((f for f in findings if f.compliance_status == "FAILED"),
                                             key=table_order)
    judged = [e for e in evaluations if evaluation_status(e) is not None]
    by_severity = Counter(f.severity for f in findings)
    rules: dict[str, list] = defaultdict(list)
    for f in findings:
        rules[f.rule_id].append(f)
    by_rule = sorted(((rule_id, items[0].title, max((f.severity for f in items), key=lambda s: s.rank), len(items))
                      for rule_id, items in rules.items()), key=lambda row: (-row[2].rank, -row[3], row[0]))
    accounts: dict[str, Counter] = defaultdict(Counter)
    verdicts_by_account: dict[str, Counter] = defaultdict(Counter)
    for f in findings:
        accounts[f.account_id][f.severity] += 1
    for e in judged:
        verdicts_by_account[e.finding.account_id][evaluation_status(e)] += 1
        accounts.setdefault(e.finding.account_id, Counter())
    by_account = sorted(((account, dict(counts), verdicts_by_account[account][PASS],
                          verdicts_by_account[account][FAIL] + verdicts_by_account[account][SUPPRESSED])
                         for account, counts in accounts.items()),
                        key=lambda row: (-sum(row[1].values()), row[0]))

    controls: dict[tuple[str, str], Control] = {}

    def add(refs, evidence: Evidence) -> None:
        for ref in refs:
            parsed = parse_ref(ref)
            if parsed is None:
                continue
            control = controls.setdefault(parsed, Control(*parsed))
            control.rules.add(evidence.rule_id)
            control.evidence.append(evidence)

    seen_state = set()
    for e in judged:
        f = e.finding
        seen_state.add(f.finding_id)
        add(f.compliance, Evidence(evaluation_status(e), e.rule_id, f.account_id, e.resource_name, e.annotation))
    for f in given:
        if f.finding_id in seen_state:
            continue  # the state result above already stands for it
        if f.compliance_status == "PASSED":
            status = PASS
        elif f.record_state == "ARCHIVED":
            status = NOT_APPLICABLE
        else:
            status = SUPPRESSED if f.suppression is not None else FAIL
        add(f.compliance, Evidence(status, f.rule_id, f.account_id, f.subject or f.resource_id, f.description))
    not_run = set(rules_not_run)
    for control in controls.values():
        control.incomplete = bool(accounts_unread or control.rules & not_run)
        control.evidence.sort(key=lambda ev: (_STATUS_ORDER[ev.status], ev.account, ev.rule_id, ev.resource))
    return Summary(
        findings=findings,
        evaluations=judged,
        by_severity={s: by_severity[s] for s in reversed(Severity)},
        by_rule=by_rule,
        by_account=by_account,
        controls=sorted(controls.values(), key=_control_key),
        suppressed=sum(1 for f in findings if f.suppression is not None),
        verdicts=Counter(evaluation_status(e) for e in judged),
        gaps=[clean(gap, 1000) for gap in gaps],
    )
