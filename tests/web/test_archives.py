"""An archived test through the log browser: listings, a file's tail and the
archive download, all read from the .tar.gz once the folder is gone; and the
keep action on the web and the API."""
from __future__ import annotations

import io
import os
import tarfile
import time

from appliance import archives, lifecycle, workarea
from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Test
from appliance.states import TestState
from appliance.web import create_app
from tests.factories import make_running_test, make_site, make_template


def test_archive_round_trip_through_the_log_browser(db, settings):
    site = make_site("arc", run_seconds=0)
    test = make_running_test(make_template("arc-t", sites=[site], command="echo hi"),
                             settings.hostname, time.time() - 5)
    agent = SubmitAgent(settings.replace(poll_interval=0.01))
    for _ in range(4):
        agent.loop_once(time.time())
        time.sleep(0.02)
    job = Job.select().where(Job.test == test.id, Job.state == "completed").first()
    big = os.path.join(workarea.test_dir(settings.work_dir, test.id), "big.log")
    with open(big, "w") as handle:
        handle.write("START\n" + "x" * (200 * 1024) + "\nTHE END\n")
    client = create_app(settings).test_client()
    relative = os.path.relpath(job.work_dir, os.path.join(settings.work_dir, "tests"))
    with open(os.path.join(job.work_dir, "stdout"), "w") as handle:
        handle.write("hi <b>there</b>\n")
    names = sorted(os.listdir(job.work_dir))
    before = {name: client.get(f"/testdirs/{relative}/{name}").get_data(as_text=True)
              for name in names}

    assert archives.pack(settings.work_dir, test.id)
    assert not os.path.exists(workarea.test_dir(settings.work_dir, test.id))
    assert f'href="{test.id}/"' in client.get("/testdirs/").get_data(as_text=True)
    top = client.get(f"/testdirs/{test.id}/").get_data(as_text=True)
    assert "arc/" in top and "big.log" in top and "Archived by retention" in top
    listing = client.get(f"/testdirs/{relative}/").get_data(as_text=True)
    assert "spec.json" in names and "stdout" in names
    for name in names:
        assert f'href="{name}"' in listing
        page = client.get(f"/testdirs/{relative}/{name}").get_data(as_text=True)
        assert page.split('<pre class="log">')[1] == before[name].split('<pre class="log">')[1]
    tail = client.get(f"/testdirs/{test.id}/big.log").get_data(as_text=True)
    assert "THE END" in tail and "START" not in tail and "showing the last" in tail
    download = client.get(f"/testdirs/{test.id}/?download=archive")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(download.data), mode="r:gz") as tar:
        assert f"{relative}/stdout" in tar.getnames()
    assert "hi &lt;b&gt;there" in before["stdout"]
    assert client.get(f"/testdirs/{test.id}/nothing-here").status_code == 404
    assert client.get(f"/testdirs/{test.id}/../../etc/passwd").status_code == 404


def test_keep_on_the_web_and_the_api(app, as_user, token_for):
    from appliance.models import Template
    test = lifecycle.create_test(Template.get(Template.name == "stress-ping"), 0, 10, "bob",
                                 state=TestState.DRAFT)
    browser = as_user("bob")
    page = browser.get(f"/tests/{test.id}").get_data(as_text=True)
    assert 'data-action="keep"' in page
    assert browser.post(f"/tests/{test.id}/keep").status_code == 303
    assert Test.get_by_id(test.id).keep
    api = app.test_client()
    alice = {"Authorization": f"Bearer {token_for('alice')}"}
    assert api.post(f"/api/v1/tests/{test.id}/unkeep", headers=alice).status_code == 403
    root = {"Authorization": f"Bearer {token_for('root')}"}
    reply = api.post(f"/api/v1/tests/{test.id}/unkeep", headers=root)
    assert reply.status_code == 200 and not Test.get_by_id(test.id).keep
    functional = lifecycle.create_test(Template.get(Template.name == "nightly"), 0, 10, "root")
    assert api.post(f"/api/v1/tests/{functional.id}/keep", headers=root).status_code == 409
