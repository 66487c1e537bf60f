"""Comparisons over the database: sides, kept results, the page, the API, `hc compare`,
and bad input refused with a clear message."""
from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.agents import jobbook
from appliance.cli import main
from appliance.compare import engine, figures, samplestore
from appliance.errors import BadInput
from appliance.models import Comparison, Job, Test, TestSamples
from appliance.states import JobState, TestState
from appliance.web import create_app
from tests.compare.jobs import finished_test
from tests.factories import make_site, make_template

START = 1.8e9
SETTLED = START + 86400  # long after both tests of `pair` ended: their jobs no longer change


@pytest.fixture
def pair(db):
    """Two finished tests on three sites; in the second, site s1 is 40 % slower."""
    sites = [make_site(f"s{i}") for i in range(3)]
    template = make_template("bench", sites=sites)
    each = {s.name: 150 for s in sites}
    a = finished_test(template, START, each, seed=1, metrics=1)
    b = finished_test(template, START + 7200, each, seed=2, metrics=1, wall={"s1": 140.0})
    return a, b


def _worse(result: dict) -> set[tuple[str, str]]:
    return {(r["site"], r["figure"]) for r in result["rows"] if r["verdict"] == "worse"}


def test_the_slower_site_and_only_it_is_worse(pair):
    a, b = pair
    result = engine.compare(f"test:{a.id}", f"test:{b.id}")
    assert _worse(result) == {("s1", "wall"), ("s1", "cpu")}
    assert {r["site"] for r in result["rows"]} == {"s0", "s1", "s2"}
    figures_seen = {r["figure"] for r in result["rows"]}
    assert figures_seen == {"efficiency", "wall", "cpu", "cpu_efficiency", "queue", "metric:m0"}
    wall = next(r for r in result["rows"] if r["site"] == "s1" and r["figure"] == "wall")
    assert wall["a"]["n"] == wall["b"]["n"] == 150 and wall["unit"] == "s"
    assert wall["ci"][0] < wall["difference"] < wall["ci"][1] and wall["ci"][0] > 20
    assert len(wall["a"]["box"]) == 5 and wall["p_adjusted"] < 0.05


def test_a_finished_pair_is_computed_once_and_kept(pair):
    a, b = pair
    first = engine.compare(f"test:{a.id}", f"test:{b.id}", now=SETTLED)
    assert not first["cached"] and Comparison.select().count() == 1
    # Retention removes the job rows later: the kept comparison is still there.
    Job.delete().where(Job.test == b.id).execute()
    Test.update(jobs_removed_at=START + 86400 * 60).where(Test.id == b.id).execute()
    again = engine.compare(f"{a.id}", f"test:{b.id}", now=SETTLED)
    assert again["cached"] and again["rows"] == first["rows"]
    with pytest.raises(BadInput, match="removed by retention"):
        engine.compare(f"test:{b.id}", f"test:{a.id}", now=SETTLED)


def test_a_test_whose_jobs_can_still_change_is_computed_fresh(pair):
    """A final test's job records can still change for a while: a late outcome of a
    job killed at the end (jobbook.LATE_WINDOW), a job still out on a node that was
    cut off. Nothing of such a test is kept, neither its samples nor a comparison."""
    a, b = pair
    just_ended = b.finished_at + jobbook.LATE_WINDOW / 2
    assert not engine.compare(f"test:{a.id}", f"test:{b.id}", now=just_ended)["cached"]
    assert Comparison.select().count() == 0
    assert [t for (t,) in TestSamples.select(TestSamples.test).tuples()] == [a.id]
    out = Job.select().where(Job.test == b.id).first()
    Job.update(state=JobState.RUNNING.value).where(Job.id == out.id).execute()
    assert not engine.compare(f"test:{a.id}", f"test:{b.id}", now=SETTLED)["cached"]
    assert Comparison.select().count() == 0 and TestSamples.select().count() == 1
    assert samplestore.keep_settled(SETTLED) == []  # a's samples are kept, b is not settled


def test_kept_samples_compare_as_the_job_rows_do(pair):
    """The server keeps the samples of stress tests as they settle; a comparison of
    them then reads no job rows and gives the very rows the job rows give."""
    a, b = pair
    unsettled = START + 3600 + 60  # both tests' jobs can still change: read from job rows
    fresh = engine.compare(f"test:{a.id}", f"test:{b.id}", now=unsettled)
    fresh_site = engine.compare(f"test:{b.id}", "", site="s1", now=unsettled)
    assert TestSamples.select().count() == 0
    assert samplestore.keep_settled(SETTLED) == [b.id, a.id]  # the latest first
    assert samplestore.keep_settled(SETTLED) == []  # nothing twice
    Job.update(wall_seconds=1e6).execute()  # not read any more: the kept samples are
    kept = engine.compare(f"test:{a.id}", f"test:{b.id}", now=SETTLED)
    assert kept["rows"] == fresh["rows"] and not kept["cached"]
    assert engine.compare(f"test:{b.id}", "", site="s1", now=SETTLED)["rows"] == \
        fresh_site["rows"]


def test_damaged_kept_samples_are_computed_again(pair):
    a, b = pair
    fresh = engine.compare(f"test:{a.id}", f"test:{b.id}", now=SETTLED)
    TestSamples.update(data=b"\x05\x00\x00\x00{}xyz").execute()
    Comparison.delete().execute()
    again = engine.compare(f"test:{a.id}", f"test:{b.id}", now=SETTLED)
    assert again["rows"] == fresh["rows"]
    assert all(samplestore.get(t) is not None for t in (a.id, b.id))  # replaced


def test_only_settled_stress_tests_are_kept_by_the_server(db):
    sites = [make_site("k0")]
    stress = make_template("k-stress", sites=sites)
    functional = make_template("k-fun", sites=sites, category="functional")
    old = finished_test(stress, START - 30 * 86400, {"k0": 20}, seed=1)
    fun = finished_test(functional, START, {"k0": 20}, seed=2)
    new = finished_test(stress, START, {"k0": 20}, seed=3)
    assert samplestore.keep_settled(new.finished_at + 60) == []  # within the late looks
    assert samplestore.keep_settled(SETTLED) == [new.id]  # not the old one, nor functional
    assert fun.id and old.id


def test_a_live_side_is_computed_fresh(pair):
    a, b = pair
    Test.update(state=TestState.RUNNING.value).where(Test.id == b.id).execute()
    assert not engine.compare(f"test:{a.id}", f"test:{b.id}")["cached"]
    assert not engine.compare(f"test:{a.id}", f"test:{b.id}")["cached"]
    assert Comparison.select().count() == 0


def test_one_site_against_the_other_sites_of_a_test(pair):
    _, b = pair
    result = engine.compare(f"test:{b.id}", "", site="s1")
    assert result["a"]["label"] == "other sites" and result["a"]["jobs"] == 300
    assert _worse(result) == {("s1", "wall"), ("s1", "cpu")}


def test_a_template_over_two_periods(pair):
    first = engine.compare("template:bench@2027-01-15T08:00..2027-01-15T10:00",
                           "template:bench@2027-01-15T10:00..2027-01-15T12:30")
    assert first["a"]["jobs"] == first["b"]["jobs"] == 450
    assert ("s1", "wall") in _worse(first)


def test_too_few_jobs_say_so(db):
    sites = [make_site("x")]
    template = make_template("tiny", sites=sites)
    a = finished_test(template, START, {"x": 4}, seed=1)
    b = finished_test(template, START + 7200, {"x": 50}, seed=2)
    result = engine.compare(f"test:{a.id}", f"test:{b.id}")
    assert {r["verdict"] for r in result["rows"]} == {"too few jobs"}
    assert all(r["p"] is None and r["ci"] is None for r in result["rows"])


@pytest.mark.parametrize("a, b, site, message", [
    ("test:999", "test:1", None, "there is no test 999"),
    ("test:1", "template:nope@2027-01-01..2027-01-02", None, "no template 'nope'"),
    ("template:bench@2027-01-02..2027-01-01", "test:1", None, "ends before it starts"),
    ("template:bench@soon..later", "test:1", None, "is not a time"),
    ("tests:1", "test:2", None, "must be test:ID"),
    ("test:1", "test:2", "s9", "a site is compared with the other sites of one test"),
    ("test:1", "", "s9", "ran no jobs of test 1"),
    ("test:1", "template:bench@2030-01-01..2030-01-02", None, "has no finished jobs"),
])
def test_bad_input_is_refused_with_a_reason(pair, a, b, site, message):
    with pytest.raises(BadInput, match=message):
        engine.compare(a, b, site)
    assert Comparison.select().count() == 0


def test_an_empty_side_is_refused(db):
    template = make_template("empty", sites=[make_site("e")])
    a = finished_test(template, START, {"e": 0}, seed=1)
    with pytest.raises(BadInput, match="no finished jobs"):
        engine.compare(f"test:{a.id}", f"test:{a.id}")


def test_metric_directions_are_declared_or_guessed():
    assert figures.direction("metric:events_per_s", {}) == "higher"
    assert figures.direction("metric:setup_time", {}) == "lower"
    assert figures.direction("metric:answer", {}) is None
    assert figures.direction("metric:answer", {"answer": "higher"}) == "higher"
    assert figures.direction("phase:stagein", {}) == "lower"
    assert figures.parse_directions(["metric:a:lower", "b:higher"]) == {"a": "lower",
                                                                         "b": "higher"}
    with pytest.raises(BadInput):
        figures.parse_directions(["a:sideways"])


def test_the_page_the_api_and_the_csv(pair, settings):
    a, b = pair
    client = create_app(settings).test_client()
    query = f"a=test:{a.id}&b=test:{b.id}"
    reply = client.get(f"/api/v1/compare?{query}")
    assert reply.status_code == 200 and _worse(reply.get_json()) == {("s1", "wall"),
                                                                     ("s1", "cpu")}
    page = client.get(f"/compare?{query}")
    assert page.status_code == 200 and b"<svg" in page.data
    assert page.data.count(b'class="verdict-worse"') == 2
    csv = client.get(f"/compare.csv?{query}").data.decode()
    assert csv.splitlines()[0].startswith("site,figure") and csv.count(",worse") == 2
    refused = client.get("/api/v1/compare?a=test:999&b=test:1")
    assert refused.status_code == 400 and refused.get_json() == {"error": "there is no test 999"}
    assert client.get("/compare?a=test:999&b=test:1").status_code == 400
    assert client.get("/compare").status_code == 200


def test_hc_compare(pair, settings, monkeypatch, capsys):
    a, b = pair
    monkeypatch.setenv("HC_DATA_DIR", settings.data_dir)
    assert main(["compare", f"test:{a.id}", f"test:{b.id}", "--differences"]) == 0
    out = capsys.readouterr().out
    assert "worse: s1 wall, s1 cpu" in out
    assert main(["compare", str(a.id), str(b.id), "--fail-on-worse"]) == 1
    capsys.readouterr()
    assert main(["compare", "test:999", "test:1"]) == 2
    assert "hc: error: there is no test 999" in capsys.readouterr().err
    assert main(["compare", f"test:{a.id}"]) == 2


def test_start_up_does_not_import_scipy():
    # scipy only when a comparison is made; numpy also in the agents, whose summaries
    # count with it (appliance/reports/jobscan.py), but not in the command line or the web
    # (an `hc` command and a web worker start without it).
    code = ("import sys, appliance.cli, appliance.web, appliance.compare.engine; "
            "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules)); "
            "import appliance.agents.submit, appliance.agents.server; "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["[]", "False"]
