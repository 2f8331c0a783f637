"""``report.html``: one self-contained page for people and auditors: no JavaScript, no fonts, images or
styles fetched from anywhere (inline CSS, inline SVG charts), readable offline and printable.

What it shows: the totals by severity; bar charts of the findings by severity, by rule and by account and of
the compliance controls' verdicts; the compliance table (CIS AWS Foundations Benchmark v5.0.0 and v3.0.0,
AWS Foundational Security Best Practices), control by control under its section, with PASS/FAIL and the
evidence (each resource or event behind the verdict, what was checked); the findings by rule and by account;
then every finding with its description, details, why it matters and its remediation; a legend.

Findings carry text an attacker chose (user and session names, resource names, user agents). The page is
rendered by Jinja2 with autoescaping on for every value (``&``, ``<``, ``>``, ``"``, ``'`` escaped, as
:func:`html.escape` does), after each value was made one line without control or invisible characters
(:func:`identity_auditor.model.text.clean`: no CR/LF, no bidi overrides); links are only the rules' own
``https://`` remediation pages. Nothing a finding says can add markup, a script or a link to the page.
"""

from __future__ import annotations

from typing import IO

from identity_auditor.cli.reports.summary import (
    CIS_SECTIONS,
    FAIL,
    FRAMEWORKS,
    INCOMPLETE,
    NOT_APPLICABLE,
    PASS,
    SUPPRESSED,
    Summary,
)
from identity_auditor.model.severity import Severity
from identity_auditor.model.text import clean

SEVERITY_COLOURS = {Severity.CRITICAL: "#8e1b1b", Severity.HIGH: "#d4480b", Severity.MEDIUM: "#c98a00",
                    Severity.LOW: "#2f6db5", Severity.INFORMATIONAL: "#6b7785"}
STATUS_COLOURS = {PASS: "#2e7d32", FAIL: "#c62828", SUPPRESSED: "#7b4fa0", NOT_APPLICABLE: "#8a939c",
                  INCOMPLETE: "#b26a00"}
CHART_ROWS = 12


def _bars(rows: list[tuple[str, int, str]], *, width: int = 560, label_width: int = 230, row_height: int = 24):
    """An SVG horizontal bar chart's geometry: (label, value, colour) -> rows with their bar's width."""
    top = max((value for _, value, _ in rows), default=0) or 1
    room = width - label_width - 50
    return {
        "width": width, "height": row_height * len(rows) + 8, "label_width": label_width, "row_height": row_height,
        "rows": [{"label": clean(label, 34), "full": clean(label, 300), "value": value, "colour": colour,
                  "y": 4 + i * row_height, "bar": max(round(room * value / top), 2 if value else 0)}
                 for i, (label, value, colour) in enumerate(rows)],
    }


def _stacked(rows: list[tuple[str, dict[str, int]]], *, width: int = 560, label_width: int = 110):
    """An SVG stacked bar chart (one bar per framework: FAIL, SUPPRESSED, PASS, NOT APPLICABLE)."""
    top = max((sum(parts.values()) for _, parts in rows), default=0) or 1
    room = width - label_width - 50
    out = []
    for i, (label, parts) in enumerate(rows):
        x, segments = label_width, []
        for status in (FAIL, SUPPRESSED, INCOMPLETE, PASS, NOT_APPLICABLE):
            size = round(room * parts.get(status, 0) / top)
            if parts.get(status):
                segments.append({"x": x, "w": max(size, 2), "colour": STATUS_COLOURS[status], "status": status,
                                 "value": parts[status]})
                x += max(size, 2)
        out.append({"label": label, "y": 4 + i * 24, "segments": segments, "end": x,
                    "total": sum(parts.values())})
    return {"width": width, "height": 24 * len(rows) + 8, "label_width": label_width, "rows": out}


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ title }}</title>
<style>
:root { --fg: #1d2329; --muted: #5b6670; --line: #dde2e6; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
header { background: #1f2a36; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c5d0db; }
main { padding: 20px 32px 40px; max-width: 1280px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.gaps { border: 1px solid var(--line); border-left: 6px solid #b26a00; border-radius: 6px; padding: 4px 14px; margin: 10px 0; }
.card { border: 1px solid var(--line); border-left: 6px solid var(--c); border-radius: 6px; padding: 8px 14px;
        min-width: 130px; background: #fff; }
.card .count { font-size: 26px; font-weight: 700; display: block; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; align-items: start; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: #fff; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--fg); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.section td { background: #eef2f6; font-weight: 600; }
.sev, .status { display: inline-block; padding: 1px 7px; border-radius: 10px; color: #fff; font-size: 11px;
                font-weight: 700; background: var(--c); white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
              overflow-wrap: anywhere; }
details summary { cursor: pointer; color: #2f6db5; }
table.controls > tbody > tr > td:last-child { width: 58%; }
table.evidence { margin: 4px 0; }
table.evidence td { font-size: 12.5px; padding: 3px 6px; }
table.evidence td.account { white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.evidence td.resource { min-width: 180px; max-width: 300px; }
article.finding { border: 1px solid var(--line); border-left: 6px solid var(--c); border-radius: 6px;
                  padding: 10px 14px; margin: 10px 0; }
article.finding h3 { margin: 0 0 6px; }
article.finding dl { display: grid; grid-template-columns: 130px 1fr; gap: 2px 12px; margin: 6px 0; }
article.finding dt { color: var(--muted); }
article.finding dd { margin: 0; }
.suppressed { opacity: .8; background: repeating-linear-gradient(45deg, #fff, #fff 10px, #f7f3fa 10px, #f7f3fa 20px); }
.remediation { background: #f1f8f2; border-radius: 4px; padding: 6px 10px; margin-top: 6px; }
.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 0 32px 24px; }
@media print { .charts { grid-template-columns: 1fr; } details { display: block; } }
</style>
</head>
<body>
{%- macro sev(s) -%}<span class="sev" style="--c: {{ colours[s] }}">{{ s.value }}</span>{%- endmacro -%}
{%- macro status(s) -%}<span class="status" data-status="{{ s }}" style="--c: {{ status_colours[s] }}">{{ s }}</span>{%- endmacro -%}
{%- macro bars(chart, caption) -%}
<figure><figcaption>{{ caption }}</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{{ caption }}" width="{{ chart.width }}" height="{{ chart.height }}" viewBox="0 0 {{ chart.width }} {{ chart.height }}">
{%- for row in chart.rows %}
<g><title>{{ row.full }}: {{ row.value }}</title>
<text x="0" y="{{ row.y + 15 }}">{{ row.label }}</text>
<rect x="{{ chart.label_width }}" y="{{ row.y + 3 }}" width="{{ row.bar }}" height="{{ chart.row_height - 8 }}" rx="3" fill="{{ row.colour }}"/>
<text x="{{ chart.label_width + row.bar + 6 }}" y="{{ row.y + 15 }}">{{ row.value }}</text></g>
{%- endfor %}
</svg></figure>
{%- endmacro %}
<header>
<h1>{{ title }}</h1>
<p>Generated {{ generated }} by identity-auditor {{ version }} · {{ summary.accounts|length }} account{{ "" if summary.accounts|length == 1 else "s" }}{% if scope %} · {{ scope }}{% endif %}</p>
</header>
<main>
<section id="summary">
<h2>Summary</h2>
<div class="cards">
<div class="card" style="--c: #1f2a36"><span class="count" id="total-findings">{{ summary.findings|length }}</span><span class="label">findings</span></div>
{%- for s, n in summary.by_severity.items() %}
<div class="card" style="--c: {{ colours[s] }}"><span class="count" data-severity="{{ s.value }}">{{ n }}</span><span class="label">{{ s.value|lower }}</span></div>
{%- endfor %}
<div class="card" style="--c: {{ status_colours['SUPPRESSED'] }}"><span class="count" id="suppressed">{{ summary.suppressed }}</span><span class="label">suppressed</span></div>
{%- if summary.evaluations %}
<div class="card" style="--c: {{ status_colours['PASS'] }}"><span class="count" data-verdict="PASS">{{ summary.verdicts.get('PASS', 0) }}</span><span class="label">compliant results</span></div>
<div class="card" style="--c: {{ status_colours['FAIL'] }}"><span class="count" data-verdict="FAIL">{{ summary.verdicts.get('FAIL', 0) + summary.verdicts.get('SUPPRESSED', 0) }}</span><span class="label">non-compliant results</span></div>
{%- endif %}
</div>
{%- if not summary.findings and not summary.evaluations %}
<p id="nothing">No findings.</p>
{%- endif %}
{%- if summary.gaps %}
<div id="gaps" class="gaps"><h3>Not covered by this run</h3>
<p>These were not judged: no control under them is shown as passing ({{ status('INCOMPLETE') }}).</p>
<ul>{% for gap in summary.gaps %}<li>{{ gap|c(1000) }}</li>{% endfor %}</ul></div>
{%- endif %}
<div class="charts">
{{ bars(severity_chart, "Findings by severity") }}
{%- if rule_chart.rows %}{{ bars(rule_chart, "Findings by rule" ~ (" (top " ~ chart_rows ~ ")" if summary.by_rule|length > chart_rows else "")) }}{% endif %}
{%- if account_chart.rows %}{{ bars(account_chart, "Findings by account" ~ (" (top " ~ chart_rows ~ ")" if summary.by_account|length > chart_rows else "")) }}{% endif %}
{%- if control_chart.rows %}
<figure><figcaption>Compliance controls by verdict</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Compliance controls by verdict" width="{{ control_chart.width }}" height="{{ control_chart.height + 22 }}" viewBox="0 0 {{ control_chart.width }} {{ control_chart.height + 22 }}">
{%- for row in control_chart.rows %}
<g><text x="0" y="{{ row.y + 15 }}">{{ row.label }}</text>
{%- for seg in row.segments %}<rect x="{{ seg.x }}" y="{{ row.y + 3 }}" width="{{ seg.w }}" height="16" fill="{{ seg.colour }}"><title>{{ row.label }} {{ seg.status }}: {{ seg.value }}</title></rect>{% endfor %}
<text x="{{ row.end + 6 }}" y="{{ row.y + 15 }}">{{ row.total }}</text></g>
{%- endfor %}
{%- set legend_y = control_chart.height + 8 %}
{%- for s in ['FAIL', 'SUPPRESSED', 'INCOMPLETE', 'PASS', 'NOT APPLICABLE'] %}
<rect x="{{ control_chart.label_width + loop.index0 * 95 }}" y="{{ legend_y }}" width="10" height="10" fill="{{ status_colours[s] }}"/><text x="{{ control_chart.label_width + loop.index0 * 95 + 14 }}" y="{{ legend_y + 9 }}">{{ s|lower }}</text>
{%- endfor %}
</svg></figure>
{%- endif %}
</div>
</section>

{%- if summary.controls %}
<section id="compliance">
<h2>Compliance: CIS and FSBP controls</h2>
<p class="muted">Each control a rule maps to, with the verdict of this run and its evidence. FAIL: a finding or a non-compliant state result names it; PASS: state results judged it and every resource was compliant.{% if not summary.evaluations %} Event findings (<code>evaluate</code>) show what happened: a control without a finding is not listed, and none is shown as passing.{% endif %}</p>
{%- for framework, controls in frameworks %}
<h3>{{ framework_names.get(framework, framework) }} <span class="muted">({{ framework }})</span></h3>
<table class="controls" data-framework="{{ framework }}">
<thead><tr><th>Control</th><th>Status</th><th>Rules</th><th class="num">Failed</th><th class="num">Passed</th><th>Evidence</th></tr></thead>
<tbody>
{%- for section, items in controls %}
<tr class="section"><td colspan="6">{{ section }}</td></tr>
{%- for c in items %}
<tr data-control="{{ c.ref }}"><td><strong>{{ c.control }}</strong></td><td>{{ status(c.status) }}</td>
<td>{% for r in c.rules|sort %}<code>{{ r }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td class="num">{{ c.count('FAIL') + c.count('SUPPRESSED') }}</td><td class="num">{{ c.count('PASS') }}</td>
<td><details{% if c.evidence|length <= 3 %} open{% endif %}><summary>{{ c.evidence|length }} result{{ "" if c.evidence|length == 1 else "s" }}</summary>
<table class="evidence"><tbody>
{%- for e in c.evidence %}
<tr><td>{{ status(e.status) }}</td><td class="account">{{ e.account|c(20) }}</td><td class="mono resource">{{ e.resource|c(200) }}</td><td>{{ e.text|c(500) }} <span class="muted">({{ e.rule_id }})</span></td></tr>
{%- endfor %}
</tbody></table></details></td></tr>
{%- endfor %}
{%- endfor %}
</tbody></table>
{%- endfor %}
</section>
{%- endif %}

{%- if summary.by_rule %}
<section id="by-rule">
<h2>By rule</h2>
<table><thead><tr><th>Rule</th><th>Title</th><th>Highest severity</th><th class="num">Findings</th></tr></thead><tbody>
{%- for rule_id, rule_title, s, n in summary.by_rule %}
<tr data-rule="{{ rule_id }}"><td><code>{{ rule_id }}</code></td><td>{{ rule_title }}</td><td>{{ sev(s) }}</td><td class="num">{{ n }}</td></tr>
{%- endfor %}
</tbody></table>
</section>
{%- endif %}

{%- if summary.by_account %}
<section id="by-account">
<h2>By account</h2>
<table><thead><tr><th>Account</th>{% for s in severities %}<th class="num">{{ s.value|lower }}</th>{% endfor %}{% if summary.evaluations %}<th class="num">compliant</th><th class="num">non-compliant</th>{% endif %}</tr></thead><tbody>
{%- for account, counts, passed, failed in summary.by_account %}
<tr data-account="{{ account|c(20) }}"><td class="mono">{{ account|c(20) }}</td>{% for s in severities %}<td class="num">{{ counts.get(s, 0) }}</td>{% endfor %}{% if summary.evaluations %}<td class="num">{{ passed }}</td><td class="num">{{ failed }}</td>{% endif %}</tr>
{%- endfor %}
</tbody></table>
</section>
{%- endif %}

{%- if summary.findings %}
<section id="findings">
<h2>Findings ({{ summary.findings|length }})</h2>
{%- for f in summary.findings %}
<article class="finding{% if f.suppression %} suppressed{% endif %}" style="--c: {{ colours[f.severity] }}" data-rule="{{ f.rule_id }}" data-severity="{{ f.severity.value }}">
<h3>{{ sev(f.severity) }}{% if f.suppression %} {{ status('SUPPRESSED') }}{% endif %} {{ f.title|c(300) }}{% if f.subject %}: <span class="subject">{{ f.subject|c(200) }}</span>{% endif %}</h3>
<p class="description">{{ f.description|c(1000) }}</p>
<dl>
<dt>Rule</dt><dd><code>{{ f.rule_id }}</code>{% if f.compliance %} · {{ f.compliance|join(", ") }}{% endif %}</dd>
<dt>When</dt><dd>{{ f.event_time.strftime("%Y-%m-%d %H:%M:%S UTC") if f.event_time else "-" }}{% if f.event_id %} · <code>{{ f.event_name|c(100) }}</code>{% endif %}</dd>
<dt>Account</dt><dd class="mono">{{ f.account_id|c(20) }} · {{ f.region|c(30) }}</dd>
<dt>Actor</dt><dd class="actor">{{ f.actor.short_name()|c(300) }}{% if f.actor.arn %} <span class="mono muted">{{ f.actor.arn|c(300) }}</span>{% endif %}{% if f.actor.source_ip %} from <span class="mono">{{ f.actor.source_ip|c(60) }}</span>{% endif %}</dd>
<dt>Resource</dt><dd class="mono resource">{{ f.resource_type|c(80) }} {{ f.resource_id|c(400) }}</dd>
{%- for key, value in f.details|dictsort %}
<dt>{{ key|c(60) }}</dt><dd>{{ value|c(400) }}</dd>
{%- endfor %}
{%- if f.suppression %}
<dt>Suppressed</dt><dd>until {{ f.suppression.expires.isoformat() }} (owner {{ f.suppression.owner|c(60) }}): {{ f.suppression.reason|c(300) }}</dd>
{%- endif %}
<dt>Finding Id</dt><dd class="mono">{{ f.finding_id|c(300) }}</dd>
</dl>
<p class="muted">{{ f.why }}</p>
<div class="remediation"><strong>Remediation:</strong> {{ f.remediation }}{% if f.remediation_url.startswith("https://") %} <a href="{{ f.remediation_url }}" rel="noreferrer noopener">AWS documentation</a>{% endif %}</div>
</article>
{%- endfor %}
</section>
{%- endif %}

<section id="legend">
<h2>Legend</h2>
<dl>
{%- for key, name in framework_names.items() %}
<dt><strong>{{ key }}</strong></dt><dd>{{ name }}{% if key.startswith("CIS") %}: <code>{{ key }} 1.4</code> is recommendation 1.4 of that version{% else %}: <code>FSBP IAM.5</code> is Security Hub control IAM.5{% endif %}</dd>
{%- endfor %}
<dt><strong>CIS sections</strong></dt><dd>{% for n, name in cis_sections.items() %}{{ n }} {{ name }}{% if not loop.last %} · {% endif %}{% endfor %}</dd>
<dt><strong>Severity</strong></dt><dd>{% for s in severities %}{{ sev(s) }} {% endfor %} (ASFF labels; the organisation policy may override a rule's)</dd>
<dt><strong>Status</strong></dt><dd>{{ status('FAIL') }} a finding or non-compliant result · {{ status('SUPPRESSED') }} failed, suppressed by the organisation policy · {{ status('PASS') }} judged compliant · {{ status('INCOMPLETE') }} nothing failed, but the run did not cover everything under it · {{ status('NOT APPLICABLE') }} nothing in scope</dd>
</dl>
</section>
</main>
<footer>identity-auditor {{ version }} · self-contained report: no scripts, nothing loaded from the network.</footer>
</body>
</html>
"""


def render(summary: Summary, out: IO[str], *, title: str, generated: str, scope: str = "") -> None:
    import jinja2

    from identity_auditor import __version__

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters["c"] = lambda value, limit=500: clean(value, limit)
    env.finalize = lambda value: clean(value, 10_000) if type(value) is str else value  # not Markup (macros)
    template = env.from_string(TEMPLATE)

    severities = list(reversed(Severity))
    frameworks: list[tuple[str, list]] = []
    for control in summary.controls:
        if not frameworks or frameworks[-1][0] != control.framework:
            frameworks.append((control.framework, []))
        sections = frameworks[-1][1]
        if not sections or sections[-1][0] != control.section:
            sections.append((control.section, []))
        sections[-1][1].append(control)
    by_framework: dict[str, dict[str, int]] = {}
    for control in summary.controls:
        parts = by_framework.setdefault(control.framework, {})
        parts[control.status] = parts.get(control.status, 0) + 1
    out.write(template.render(
        title=clean(title, 200), generated=generated, scope=clean(scope, 300), version=__version__,
        summary=summary, severities=severities, colours=SEVERITY_COLOURS, status_colours=STATUS_COLOURS,
        framework_names=FRAMEWORKS, cis_sections=CIS_SECTIONS, frameworks=frameworks, chart_rows=CHART_ROWS,
        severity_chart=_bars([(s.value.lower(), summary.by_severity[s], SEVERITY_COLOURS[s]) for s in severities]),
        rule_chart=_bars([(rule_id, n, SEVERITY_COLOURS[s]) for rule_id, _, s, n in summary.by_rule[:CHART_ROWS]]),
        account_chart=_bars([(account, sum(counts.values()), "#2f6db5")
                             for account, counts, _, _ in summary.by_account[:CHART_ROWS]
                             if sum(counts.values())]),
        control_chart=_stacked(list(by_framework.items())),
    ))
