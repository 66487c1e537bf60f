"""Every page and API route with the Flask test client, over a real test run by the
submit agent: escaping of hostile text, a safe work-area browser, SQL aggregates."""
from __future__ import annotations

import os
import time

import pytest
from playhouse.test_utils import count_queries

from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Template
from appliance.web import create_app, warm_templates
from tests.factories import make_running_test, make_site, make_template

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def client(db, settings):
    sites = [make_site("alpha", run_seconds=0, failure_rate=0.5, failure_reason=HOSTILE),
             make_site("beta", run_seconds=0)]
    template = make_template("ping", sites=sites, load={"max_running": 2},
                             description=HOSTILE, command="echo hi")
    test = make_running_test(template, settings.hostname, time.time() - 5)
    agent = SubmitAgent(settings.replace(poll_interval=0.01))
    for _ in range(4):
        agent.loop_once(time.time())
        time.sleep(0.02)
    assert Job.select().count() >= 8
    app = create_app(settings)
    app.config["TESTING"] = True
    client = app.test_client()
    client.test_id = test.id
    client.work_dir = settings.work_dir
    return client


def test_index_and_lists(client):
    for url in ("/", "/tests/", "/tests/?state=running&category=stress", "/robot",
                "/robot?days=50", "/templates/", "/sites/alpha", f"/tests/{client.test_id}",
                f"/tests/{client.test_id}?site=alpha&job_state=failed&severity=queuecontrol"):
        reply = client.get(url)
        assert reply.status_code == 200, url
        assert HOSTILE not in reply.get_data(as_text=True), f"unescaped text on {url}"
    page = client.get(f"/tests/{client.test_id}").get_data(as_text=True)
    assert "&lt;script&gt;" in page and "<svg" in page and "alpha" in page


def test_robot_cells_link_to_their_jobs(client, settings):
    from appliance.models import DailyRollup, Test
    Test.update(category="functional").execute()
    DailyRollup.update(category="functional").execute()  # rollups keep the category of the end
    robot = client.get("/robot").get_data(as_text=True)
    link = robot.split('href="/sites/alpha/jobs?')[1].split('"')[0].replace("&amp;", "&")
    page = client.get(f"/sites/alpha/jobs?{link}").get_data(as_text=True)
    assert "job-" in page or "/testdirs/" in page
    assert client.get("/sites/alpha/jobs?start=5&end=1").status_code == 400
    # Times no page can show are refused, not a 500 while formatting them.
    for query in ("start=nan&end=2e9", "start=1.7e9&end=inf", "start=-inf&end=1.7e9",
                  "start=1.7e9&end=1e300", "start=x&end=2e9", "start=1.7e9"):
        assert client.get(f"/sites/alpha/jobs?{query}").status_code == 400, query


def test_every_page_template_is_compiled_before_the_first_visitor(db, settings):
    """gunicorn's entry point compiles them at start (appliance/web/wsgi.py)."""
    app = create_app(settings)
    folder = os.path.join(os.path.dirname(create_app.__code__.co_filename), "templates")
    pages = [n for n in os.listdir(folder) if n.endswith(".html")]
    assert warm_templates(app) == len(pages) > 10

    def compile_again(*args, **kwargs):
        raise AssertionError("a template was compiled at a visit")
    app.jinja_env.compile = compile_again
    assert app.test_client().get("/tests/").status_code == 200


def test_missing_things_are_404(client):
    for url in ("/tests/999", "/sites/nowhere", "/api/v1/tests/999", "/api/v1/sites/nowhere"):
        assert client.get(url).status_code == 404, url


def test_list_pages_do_not_query_per_row(client):
    with count_queries() as few:
        client.get("/tests/")
    Template.update(description="x").execute()
    for _ in range(30):
        make_running_test(Template.get(), "elsewhere", time.time())
    with count_queries() as many:
        client.get("/tests/")
    assert many.count == few.count
    with count_queries() as index:
        client.get("/")
    assert index.count <= 12


def test_work_area_browser(client):
    test_id = client.test_id
    listing = client.get(f"/testdirs/{test_id}/").get_data(as_text=True)
    assert "alpha/" in listing and "test.json" in listing
    job = Job.select().where(Job.state == "completed").first()
    relative = os.path.relpath(job.work_dir, os.path.join(client.work_dir, "tests"))
    assert "spec.json" in client.get(f"/testdirs/{relative}/").get_data(as_text=True)
    download = client.get(f"/testdirs/{relative}/spec.json?download=1")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]


def test_large_files_show_their_tail_only(client):
    path = os.path.join(client.work_dir, "tests", str(client.test_id), "big.log")
    with open(path, "w") as handle:
        handle.write("START\n" + "x" * (2 * 1024 * 1024) + "\nTHE END\n")
    page = client.get(f"/testdirs/{client.test_id}/big.log").get_data(as_text=True)
    assert "THE END" in page and "START" not in page and "showing the last" in page


@pytest.mark.parametrize("attempt", ["../", "../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
                                     "..%2f..%2fetc%2fpasswd", "/etc/passwd", "1/../../..",
                                     "link-out/passwd", "link-out", "nul%00"])
def test_no_path_leaves_the_work_area(client, attempt):
    tests = os.path.join(client.work_dir, "tests")
    link = os.path.join(tests, "link-out")
    if not os.path.islink(link):
        os.symlink("/etc", link)
    reply = client.get(f"/testdirs/{attempt}", follow_redirects=True)
    assert reply.status_code == 404, attempt
    assert "root:" not in reply.get_data(as_text=True)


def test_symlinks_out_are_not_listed(client):
    os.symlink("/etc", os.path.join(client.work_dir, "tests", "escape"))
    assert "escape" not in client.get("/testdirs/").get_data(as_text=True)


def test_json_api(client):
    test_id = client.test_id
    tests = client.get("/api/v1/tests?state=running").get_json()["tests"]
    assert [t["id"] for t in tests] == [test_id] and tests[0]["template"] == "ping"
    detail = client.get(f"/api/v1/tests/{test_id}").get_json()
    assert set(detail["sites"]) == {"alpha", "beta"}
    assert detail["sites"]["alpha"]["load"]["max_running"] == 2
    assert detail["summary"]["jobs_total"] == Job.select().count()
    jobs = client.get(f"/api/v1/tests/{test_id}/jobs?site=beta&per_page=2").get_json()["jobs"]
    assert len(jobs) == 2 and all(j["site"] == "beta" for j in jobs)
    assert client.get(f"/api/v1/tests/{test_id}/jobs?per_page=0").status_code == 400
    log = client.get(f"/api/v1/tests/{test_id}/log").get_json()["log"]
    assert any("state -> running" in line["message"] for line in log)
    sites = client.get("/api/v1/sites").get_json()["sites"]
    assert {s["site"]: s["backend"] for s in sites} == {"alpha": "fake", "beta": "fake"}
    assert client.get("/api/v1/robot?days=999").status_code == 400
    for url in ("/api/v1/templates", "/api/v1/health", "/api/v1/incidents",
                "/api/v1/sites/alpha"):
        assert client.get(url).status_code == 200, url


def test_metrics_and_health(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hc_tests{state="running"} 1' in text and "hc_jobs{" in text
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_every_plot_of_a_test_page_links_to_its_numbers(client):
    """Each plot on the test page has a CSV of the numbers it draws: the jobs by state
    per site add up to the page's counts, the wall-time histogram to the timed jobs."""
    import csv
    import io
    import re

    from appliance.reports import queries

    page = client.get(f"/tests/{client.test_id}").get_data(as_text=True)
    links = re.findall(rf'href="(/tests/{client.test_id}/plots/[^"]+\.csv)"', page)
    assert len(links) == page.count("<figure>") >= 4, links
    tables = {}
    for link in links:
        reply = client.get(link)
        assert reply.status_code == 200, link
        assert "attachment" in reply.headers["Content-Disposition"]
        tables[link.rsplit("/", 1)[1]] = list(csv.reader(io.StringIO(reply.get_data(as_text=True))))
    by_site = queries.site_counts(client.test_id)
    header, *rows = tables["states.csv"]
    assert sorted(row[0] for row in rows) == sorted(by_site)
    for site, *values in rows:
        shown = dict(zip(header[1:], map(int, values), strict=True))
        assert sum(shown.values()) == by_site[site]["jobs_total"], (site, shown)
    timed = Job.select().where(Job.test == client.test_id,
                               Job.wall_seconds.is_null(False)).count()
    assert sum(int(row[2]) for row in tables["wall.csv"][1:]) == timed
    assert client.get(f"/tests/{client.test_id}/plots/nothing.csv").status_code == 404
    assert client.get("/tests/999999/plots/wall.csv").status_code == 404
