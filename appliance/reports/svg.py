"""What every pygal chart of the appliance shares (the web's pages and `hc run`'s
report): one colour per job state, a palette for other series, and SVG without
scripts (the pages' Content-Security-Policy and the report allow none)."""
from __future__ import annotations

import re

from pygal.style import Style

from appliance.states import JobState

JOB_STATE_COLOURS = {JobState.PENDING: "#b4a7d6", JobState.SUBMITTED: "#9fc5e8",
                     JobState.QUEUED: "#6fa8dc", JobState.RUNNING: "#2b7bb9",
                     JobState.COMPLETED: "#6aa84f", JobState.FAILED: "#cc0000",
                     JobState.KILLED: "#999999", JobState.LOST: "#e69138"}
PALETTE = ("#1f3b57", "#2b7bb9", "#e69138", "#674ea7", "#6aa84f", "#cc0000", "#999999")


def series_style(names: list[str], background: str = "transparent") -> Style:
    """Job states keep their colour everywhere; other series take the palette in turn."""
    return Style(background=background, plot_background=background, font_family="sans-serif",
                 colors=tuple(JOB_STATE_COLOURS.get(n, PALETTE[i % len(PALETTE)])
                              for i, n in enumerate(names)))


def static_svg(chart) -> str:
    """The chart's SVG without pygal's tooltip script."""
    return re.sub(r"<script[^>]*>.*?</script>", "", chart.render(is_unicode=True), flags=re.S)
