"""What the daily plots draw: a dot per value only where a line needs one, and no bar
series for an outcome no job had (each costs pygal as much as a line)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appliance.web import charts


def _days(n: int) -> list[str]:
    return [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(n)]


def test_a_long_line_has_no_dots_a_short_one_has():
    year = charts.daily_series("wall", "seconds", _days(365), {"median": [1.0] * 365})
    month = charts.daily_series("wall", "seconds", _days(31), {"median": [1.0] * 31})
    assert '<circle' not in year
    assert month.count('<circle') == 31


def test_a_value_alone_between_gaps_keeps_its_line_dotted():
    values = [1.0] * 100 + [None, 2.0, None] + [1.0] * 100
    svg = charts.daily_series("queue", "seconds", _days(len(values)), {"p90": values})
    assert svg.count('<circle') == len(values) - 2, "without dots, 2.0 would not show"


@given(st.lists(st.one_of(st.none(), st.floats(0, 10)), min_size=32, max_size=120))
def test_dots_exactly_when_some_value_has_no_neighbour(values):
    alone = any(v is not None and (i == 0 or values[i - 1] is None)
                and (i == len(values) - 1 or values[i + 1] is None)
                for i, v in enumerate(values))
    assert charts._dotted(values) is alone


def test_the_history_leaves_out_outcomes_no_job_had():
    cells = [{"day": d, "completed": 9, "failed": 1, "killed": 0, "lost": 0, "efficiency": 0.9}
             for d in _days(20)]
    svg = charts.daily_history(cells)
    assert ">completed<" in svg and ">failed<" in svg
    assert ">killed<" not in svg and ">lost<" not in svg
    cells[3]["lost"] = 2
    assert ">lost<" in charts.daily_history(cells) and ">killed<" not in charts.daily_history(cells)
