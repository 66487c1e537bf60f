"""Charts as pure functions: aggregated rows in, SVG text out (pygal, no scripts)."""
from __future__ import annotations

import pygal

from appliance.reports.svg import JOB_STATE_COLOURS, series_style, static_svg

_CHART = {"js": [], "disable_xml_declaration": True, "width": 640, "height": 280,
          "explicit_size": False, "legend_at_bottom": True}


_style = series_style
_svg = static_svg
STATE_COLOURS = JOB_STATE_COLOURS


def jobs_by_state(counts: dict[str, dict[str, int]], title: str = "Jobs by state per site") -> str:
    """counts: {site: {state: number}}"""
    sites = sorted(counts)
    states = [s for s in STATE_COLOURS if any(counts[site].get(s) for site in sites)]
    chart = pygal.StackedBar(title=title, style=_style(states), y_title="jobs", **_CHART)
    chart.x_labels = sites
    for state in states:
        chart.add(state, [counts[site].get(state, 0) for site in sites])
    return _svg(chart)


def histogram(buckets: list[tuple[float, float, int]], title: str) -> str:
    """buckets: [(low, high, count)]"""
    chart = pygal.Histogram(title=title, style=_style(["running"]), x_title=title,
                            y_title="jobs", **_CHART)
    chart.add("jobs", [(count, low, high) for low, high, count in buckets])
    return _svg(chart)


def efficiency_over_time(series: dict[str, list[tuple[float, float]]], title: str) -> str:
    """series: {name: [(seconds since start, efficiency 0..1)]}"""
    # x: seconds since the start, shown as h:mm:ss; y: a fraction, shown in percent.
    chart = pygal.XY(title=title, range=(0, 1), style=_style(list(series)),
                     x_title="time since the test started (h:mm:ss)", y_title="efficiency",
                     x_value_formatter=_clock, value_formatter=lambda v: f"{100 * v:.0f} %",
                     **_CHART)
    for name, points in series.items():
        chart.add(name, points)
    return _svg(chart)


def states_over_time(seconds: list[float], counts: dict[str, list[int]],
                     title: str = "Jobs by state over the test") -> str:
    """seconds: moments since the start; counts: {state: jobs at each moment}"""
    chart = pygal.Line(title=title, style=_style(list(counts)), show_dots=False, fill=False,
                       x_label_rotation=0, show_minor_x_labels=False, y_title="jobs",
                       x_title="time since the test started (h:mm:ss)", **_CHART)
    chart.x_labels = [_clock(s) for s in seconds]
    chart.x_labels_major = chart.x_labels[::4]
    for state, values in counts.items():
        chart.add(state, values)
    return _svg(chart)


def metric_per_site(metric: str, means: dict[str, tuple[float, int]]) -> str:
    """means: {site: (mean, jobs reporting it)} of one payload metric"""
    sites = sorted(means)
    chart = pygal.Bar(title=f"{metric} (mean per site)", style=_style([metric]),
                      y_title=metric, **_CHART)
    chart.x_labels = sites
    chart.add(metric, [{"value": means[s][0], "label": f"{means[s][1]} jobs"} for s in sites])
    return _svg(chart)


def time_breakdown(parts: dict[str, dict[str, float]], title: str) -> str:
    """parts: {site or template: {part: mean seconds}}, queue first, then each phase
    (appliance/phases.py): one stacked horizontal bar per row."""
    groups = list(parts)
    names = list(dict.fromkeys(name for values in parts.values() for name in values))
    height = max(_CHART["height"], 90 + 28 * len(groups))
    chart = pygal.HorizontalStackedBar(title=title, style=_style(["queued", *names[1:]]),
                                       x_title="seconds (mean per job)",
                                       **(_CHART | {"height": height}))
    chart.x_labels = groups
    for name in names:
        chart.add(name, [parts[g].get(name) for g in groups])
    return _svg(chart)


def daily_series(title: str, y_title: str, days: list[str],
                 series: dict[str, list[float | None]], percent: bool = False) -> str:
    """One line per series over `days` (UTC days, 'YYYY-MM-DD'; a value per day, None for
    none): a plot per figure, its unit in the axis title, about ten dated labels."""
    chart = pygal.Line(title=title, y_title=y_title, x_title="day (UTC)",
                       style=_style(list(series)), x_label_rotation=30,
                       dots_size=2, show_minor_x_labels=False, allow_interruptions=True,
                       value_formatter=(lambda v: f"{100 * v:.1f} %") if percent
                       else (lambda v: f"{v:.4g}"), **_CHART)
    chart.x_labels = days
    chart.x_labels_major = days[::max(1, len(days) // 10)]
    for name, values in series.items():
        chart.add(name, values, show_dots=_dotted(values))
    return _svg(chart)


DOTS_UP_TO = 31  # values: a longer line is drawn without a dot per value


def _dotted(values: list) -> bool:
    """Whether a line needs a dot per value: when it is short, or when a value stands
    alone between gaps (without a dot, no line would show it). A dot costs pygal about
    as much as the rest of the line: a year of dots took ten times as long."""
    if len(values) <= DOTS_UP_TO:
        return True
    present = [v is not None for v in values]
    return any(here and not (i and present[i - 1]) and not (i + 1 < len(present)
                                                             and present[i + 1])
               for i, here in enumerate(present))


def daily_history(days: list[dict], title: str = "Functional jobs") -> str:
    """days: the site overview's cells, oldest first: jobs by outcome as stacked bars
    and the efficiency (right axis, 0-100 %) as a line. Beyond WEEKLY_AFTER days
    the bars are weeks (a bar per day of a year costs pygal seconds)."""
    bins = _weeks(days) if len(days) > WEEKLY_AFTER else days
    per = "week" if len(days) > WEEKLY_AFTER else "day"
    # An outcome no job had is left out: each bar costs pygal as much as a line does.
    states = [state for state in ("completed", "failed", "killed", "lost")
              if state in ("completed", "failed") or any(d[state] for d in bins)]
    chart = pygal.Bar(title=f"{title} per {per}", style=_style([*states, "efficiency"]),
                      stacked=True, x_label_rotation=30, show_minor_x_labels=False,
                      secondary_range=(0, 100), **_CHART)
    chart.x_labels = [d["day"] for d in bins]
    chart.x_labels_major = chart.x_labels[::max(1, len(bins) // 10)]
    for state in states:
        chart.add(state, [d[state] for d in bins])
    efficiency = [None if d["efficiency"] is None else round(100 * d["efficiency"], 1)
                  for d in bins]
    chart.add("efficiency %", efficiency, secondary=True, stroke=True,
              show_dots=_dotted(efficiency))
    return _svg(chart)


WEEKLY_AFTER = 60  # days


def _weeks(days: list[dict]) -> list[dict]:
    """Days summed by 7 (the newest week may be shorter), labelled by their first day."""
    weeks = []
    for first in range(0, len(days), 7):
        chunk = days[first:first + 7]
        week = {state: sum(d[state] for d in chunk)
                for state in ("completed", "failed", "killed", "lost")}
        ended = week["completed"] + week["failed"]
        weeks.append(week | {"day": chunk[0]["day"],
                             "efficiency": week["completed"] / ended if ended else None})
    return weeks


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"
