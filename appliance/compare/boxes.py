"""A row's two distributions as one small SVG box plot (no script: the pages' CSP
allows none). Boxes span the 25th to 75th percentile, whiskers the 5th to 95th, a
line marks the median; A on top, B below, on one shared axis."""
from __future__ import annotations

from markupsafe import escape

WIDTH, HEIGHT, PAD = 220, 34, 6
COLOURS = {"a": "#6fa8dc", "b": "#e69138"}


def svg(row: dict) -> str:
    """The box plot of `row` (a comparison row), or "" when a side has no percentiles."""
    boxes = {side: row[side].get("box") for side in ("a", "b")}
    if not all(boxes.values()):
        return ""
    low = min(box[0] for box in boxes.values())
    high = max(box[-1] for box in boxes.values())
    scale = (WIDTH - 2 * PAD) / ((high - low) or 1.0)
    x = lambda v: PAD + (v - low) * scale  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'role="img" aria-label="{escape(_label(row, boxes))}">']
    for lane, side in enumerate(("a", "b")):
        p5, p25, p50, p75, p95 = (x(v) for v in boxes[side])
        top, middle = 3 + lane * 16, 9 + lane * 16
        colour = COLOURS[side]
        parts += [f'<line x1="{p5:.1f}" y1="{middle}" x2="{p95:.1f}" y2="{middle}" '
                  f'stroke="{colour}"/>',
                  f'<rect x="{p25:.1f}" y="{top}" width="{max(1.0, p75 - p25):.1f}" height="12" '
                  f'fill="{colour}" fill-opacity="0.45" stroke="{colour}"/>',
                  f'<line x1="{p50:.1f}" y1="{top}" x2="{p50:.1f}" y2="{top + 12}" '
                  'stroke="#222" stroke-width="2"/>']
    return "".join(parts) + "</svg>"


def _label(row: dict, boxes: dict) -> str:
    return "; ".join(f"{side.upper()}: 5%-95% {box[0]:.4g} to {box[-1]:.4g}, median {box[2]:.4g}"
                     for side, box in boxes.items())
