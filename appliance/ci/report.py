"""A self-contained HTML report: inline SVG plots (pygal, no scripts), no external assets."""
from __future__ import annotations

import html

import pygal
from pygal.style import Style

from appliance import timetext
from appliance.ci.results import STATE_ORDER, RunResult
from appliance.ci.thresholds import Verdict
from appliance.reports.svg import series_style, static_svg

_CHART = {"js": [], "disable_xml_declaration": True, "width": 720, "height": 320,
          "explicit_size": True}


def _style(states: list[str]) -> Style:
    return series_style(states, background="white")
_CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th:first-child,td:first-child,td.text{text-align:left}.pass{color:#2e7d32}.fail{color:#c62828;
font-weight:bold}figure{margin:1em 0}"""


_static = static_svg  # the report carries no JavaScript


def jobs_by_state_svg(result: RunResult) -> str:
    series = [(state, [result.counts(site)[state] for site in result.sites])
              for state in STATE_ORDER]
    series = [(state, values) for state, values in series if any(values)]
    chart = pygal.StackedBar(title="Jobs by final state per site",
                             style=_style([state for state, _ in series]), **_CHART)
    chart.x_labels = result.sites
    for state, values in series:
        chart.add(state, values)
    return _static(chart)


def wall_histogram_svg(result: RunResult, bins: int = 20) -> str:
    walls = [job.wall for job in result.jobs if job.wall is not None]
    chart = pygal.Histogram(title="Wall time of jobs (s)", style=_style(["running"]), **_CHART)
    if walls:
        low, high = min(walls), max(walls)
        width = (high - low) / bins or 1.0
        counts = [0] * bins
        for wall in walls:
            counts[min(bins - 1, int((wall - low) / width))] += 1
        chart.add("jobs", [(n, low + i * width, low + (i + 1) * width)
                           for i, n in enumerate(counts)])
    return _static(chart)


def progress_svg(result: RunResult) -> str:
    chart = pygal.XY(title="Jobs ended over time (s since start)",
                     style=_style(["completed", "failed"]), **_CHART)
    for state in ("completed", "failed"):
        times = sorted(t - result.start_at for t, _, s in result.ended_times if s == state)
        chart.add(state, [(t, n + 1) for n, t in enumerate(times)])
    return _static(chart)


def comparison_html(comparison: dict | None) -> str:
    """The rows of the comparison with the baseline (appliance/ci/baseline.py)."""
    if comparison is None:
        return ""
    escape = html.escape
    number = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    rows = "".join(
        f"<tr><td>{escape(r['site'])}</td><td class=text>{escape(r['figure'])}</td>"
        f"<td>{r['a']['n']}</td><td>{r['b']['n']}</td><td>{number(r['a']['median'])}</td>"
        f"<td>{number(r['b']['median'])}</td><td>{number(r['difference'])}</td>"
        f"<td>{number(r['ci'][0]) if r['ci'] else '-'} .. {number(r['ci'][1]) if r['ci'] else '-'}"
        f"</td><td>{number(r['p_adjusted'])}</td><td class="
        f"{'fail' if r['verdict'] == 'worse' else 'pass' if r['verdict'] == 'better' else 'text'}"
        f">{escape(r['verdict'])}</td></tr>" for r in comparison["rows"])
    return (f"<h2>Compared with baseline test {escape(str(comparison['baseline']))}</h2>"
            "<p>Difference of medians (this test − baseline) with a 95 % bootstrap interval; "
            "Mann–Whitney U (efficiency: Fisher's exact test), Holm-corrected.</p>"
            "<table><tr><th>site</th><th>figure</th><th>jobs baseline</th><th>jobs</th>"
            "<th>median baseline</th><th>median</th><th>difference</th><th>95 % interval</th>"
            f"<th>p (corrected)</th><th>verdict</th></tr>{rows}</table>")


def html_report(result: RunResult, verdicts: list[Verdict], exit_code: int,
                comparison: dict | None = None) -> str:
    escape = html.escape
    verdict_rows = "".join(
        f"<tr><td>{escape(v.threshold.text)}</td><td>{escape(v.detail)}</td>"
        f"<td class={'pass' if v.passed else 'fail'}>{'pass' if v.passed else 'FAIL'}</td></tr>"
        for v in verdicts) or "<tr><td colspan=3>no thresholds</td></tr>"
    site_rows = "".join(_site_row(result, site) for site in result.sites + [None])
    headers = "".join(f"<th>{state}</th>" for state in STATE_ORDER)
    log = "".join(f"<tr><td>{_when(at)}</td><td>{escape(severity)}</td><td class=text>"
                  f"{escape(text)}</td>"
                  "</tr>" for at, severity, text in result.log)
    outcome = "passed" if exit_code == 0 else "FAILED"
    test_id = escape(str(result.test_id))  # from an instance's reply: not trusted
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>hc run: test {test_id} {outcome}</title><style>{_CSS}</style></head><body>
<h1>Test {test_id} ({escape(result.template)}): <span class="{'pass' if exit_code == 0
else 'fail'}">{outcome}</span></h1>
<p>State {escape(result.state)} ({escape(result.state_reason)}); {_when(result.start_at)} to
{_when(result.end_at)}; exit code {exit_code}.</p>
{_image_line(result)}
<h2>Thresholds</h2><table><tr><th>threshold</th><th>measured</th><th>verdict</th></tr>
{verdict_rows}</table>
{comparison_html(comparison)}
<h2>Sites</h2><table><tr><th>site</th>{headers}<th>efficiency</th></tr>{site_rows}</table>
<figure>{jobs_by_state_svg(result)}</figure>
<figure>{progress_svg(result)}</figure>
<figure>{wall_histogram_svg(result)}</figure>
<h2>Test log</h2><table><tr><th>time</th><th>severity</th><th>message</th></tr>{log}</table>
</body></html>
"""


def _image_line(result: RunResult) -> str:
    if not result.image and not result.images_run:
        return ""
    ran = ", ".join(f"<code>{html.escape(d)}</code>" for d in result.images_run) or "none yet"
    return (f"<p>Payload image <code>{html.escape(result.image or '-')}</code>; "
            f"the jobs ran {ran}.</p>")


def _site_row(result: RunResult, site: str | None) -> str:
    counts = result.counts(site)
    efficiency = result.efficiency(site)
    cells = "".join(f"<td>{counts[state]}</td>" for state in STATE_ORDER)
    shown = "-" if efficiency is None else f"{100 * efficiency:.1f}%"
    name = "<b>all sites</b>" if site is None else html.escape(site)
    return f"<tr><td>{name}</td>{cells}<td>{shown}</td></tr>"


def _when(timestamp: float) -> str:
    return timetext.utc_text(timestamp, timetext.CLI)
