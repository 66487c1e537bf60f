"""The pages that change things, with the Flask test client: a stress test in
three clicks, who may send, approve, cancel, clone and change the load, bad
input (400 naming the fields, nothing changed) and hostile names."""
from __future__ import annotations

import re

from appliance.models import Site, Test, TestLog, TestSite
from appliance.states import TestState
from tests.factories import make_site, make_template

HOSTILE = '<img src=x onerror="alert(1)">'


def _create(visitor, template="stress-ping", **fields):
    visitor.get(f"/create/{template}")
    form = {"start": "", "end": "", "sites": ["alpha", "beta"], "max_running": "3",
            "min_queue_depth": "0", "resubmit": "on", "resubmit_shown": "1", **fields}
    return visitor.post(f"/create/{template}", form)


def test_three_clicks_make_a_test_waiting_for_approval(as_user):
    visitor = as_user("alice")
    choose = visitor.get("/create").get_data(as_text=True)  # click 1: the template
    assert "stress-ping" in choose and "nightly" not in choose, "users see stress templates"
    form = visitor.get("/create/stress-ping").get_data(as_text=True)  # click 2: defaults
    assert 'value="alpha" checked' in form and 'name="max_running" min="1" value="2"' in form
    start = re.search(r'name="start" value="([^"]+)"', form).group(1)
    end = re.search(r'name="end" value="([^"]+)"', form).group(1)
    reply = visitor.post("/create/stress-ping", {  # click 3: submit, defaults untouched
        "start": start, "end": end, "sites": ["alpha", "beta"], "max_running": "2",
        "min_queue_depth": "0", "resubmit": "on", "resubmit_shown": "1"})
    assert reply.status_code == 303
    test = Test.get()
    assert reply.headers["Location"].endswith(f"/tests/{test.id}")
    assert test.state == TestState.UNAPPROVED and test.owner == "alice"
    assert test.end_at - test.start_at == 600
    assert [ts.max_running for ts in test.test_sites] == [2, 2]
    page = visitor.get(f"/tests/{test.id}").get_data(as_text=True)
    assert "unapproved" in page and 'data-action="approve"' not in page, "users cannot approve"
    assert "Approvals" in page


def test_bad_form_input_says_which_fields_and_creates_nothing(as_user):
    visitor = as_user("alice")
    reply = _create(visitor, start="2026-13-45T99:00", max_running="zero", sites=["gamma"])
    assert reply.status_code == 400
    page = reply.get_data(as_text=True)
    for field in ("start", "sites", "load.max_running"):
        assert f'data-field="{field}"' in page, field
    assert "unknown site &#39;gamma&#39;" in page
    reply = _create(visitor, start="2030-01-01T10:00", end="2030-01-01T09:00")
    assert reply.status_code == 400 and 'data-field="end"' in reply.get_data(as_text=True)
    reply = _create(visitor, job_cap="-3", min_queue_depth="1.5")
    assert reply.status_code == 400
    reply = _create(visitor, max_running="9" * 5000, min_queue_depth="1_000")
    assert reply.status_code == 400 and 'data-field="load.max_running"' in \
        reply.get_data(as_text=True)
    assert Test.select().count() == 0 and TestLog.select().count() == 0


def test_functional_templates_are_for_admins(as_user):
    visitor = as_user("alice")
    reply = _create(visitor, template="nightly")
    assert reply.status_code == 400 and "functional tests are made by the server" in \
        reply.get_data(as_text=True)
    assert visitor.get("/create/missing").status_code == 404


def test_admin_approves_and_owner_cancels(app, as_user):
    alice = as_user("alice")
    _create(alice)
    test = Test.get()
    assert alice.post(f"/tests/{test.id}/approve").status_code == 403
    root = as_user("root")
    queue = root.get("/approvals").get_data(as_text=True)
    assert f"/tests/{test.id}/approve" in queue
    assert root.post(f"/tests/{test.id}/approve").status_code == 303
    assert Test.get_by_id(test.id).state == TestState.TOBESCHEDULED
    assert root.post(f"/tests/{test.id}/approve").status_code == 409, "approved once"
    bob = as_user("bob")
    assert bob.post(f"/tests/{test.id}/cancel").status_code == 403, "not bob's test"
    alice = as_user("alice")
    assert alice.post(f"/tests/{test.id}/cancel").status_code == 303
    assert Test.get_by_id(test.id).state == TestState.CANCELLED
    actors = {line.actor for line in TestLog.select().where(TestLog.test == test.id)}
    assert actors == {"alice", "root"}


def test_admin_may_approve_at_creation(as_user):
    root = as_user("root")
    assert _create(root, approve="1").status_code == 303
    assert Test.get().state == TestState.TOBESCHEDULED


def test_clone_makes_a_draft_for_whoever_clones(as_user):
    alice = as_user("alice")
    _create(alice)
    source = Test.get()
    bob = as_user("bob")
    reply = bob.post(f"/tests/{source.id}/clone")
    clone = Test.get(Test.cloned_from == source.id)
    assert reply.headers["Location"].endswith(f"/tests/{clone.id}")
    assert clone.owner == "bob" and clone.state == TestState.DRAFT
    page = bob.get(f"/tests/{clone.id}").get_data(as_text=True)
    assert 'data-action="send-for-approval"' in page
    assert bob.post(f"/tests/{clone.id}/send-for-approval").status_code == 303
    assert Test.get_by_id(clone.id).state == TestState.UNAPPROVED
    assert bob.post(f"/tests/{clone.id}/frobnicate").status_code == 404
    assert bob.post("/tests/999/cancel").status_code == 404


def test_load_knobs_change_while_running_each_change_logged(as_user):
    alice = as_user("alice")
    _create(alice)
    test = Test.get()
    Test.update(state=TestState.RUNNING.value).execute()
    page = alice.get(f"/tests/{test.id}").get_data(as_text=True)
    assert 'data-site="alpha"' in page, "the owner gets the knob forms"
    reply = alice.post(f"/tests/{test.id}/load", {"site": "alpha", "max_running": "7",
                                                 "min_queue_depth": "1", "job_cap": "",
                                                 "resubmit_shown": "1"})
    assert reply.status_code == 303
    row = TestSite.select().join(Site).where(Site.name == "alpha").get()
    assert (row.max_running, row.min_queue_depth, row.resubmit) == (7, 1, False)
    messages = [line.message for line in TestLog.select().where(TestLog.severity ==
                                                                 "queuecontrol")]
    assert messages == ["alpha: max_running -> 7", "alpha: min_queue_depth -> 1",
                        "alpha: resubmit -> False"]
    for bad in ({"site": "alpha", "max_running": "0"}, {"site": "gamma", "max_running": "2"},
                {"site": "alpha", "max_running": "many"}):
        assert alice.post(f"/tests/{test.id}/load", bad).status_code == 400, bad
    bob = as_user("bob")
    assert 'data-site="alpha"' not in bob.get(f"/tests/{test.id}").get_data(as_text=True)
    assert bob.post(f"/tests/{test.id}/load", {"site": "alpha", "max_running": "1"}) \
        .status_code == 403
    Test.update(state=TestState.COMPLETED.value).execute()
    alice = as_user("alice")
    assert alice.post(f"/tests/{test.id}/load", {"site": "alpha", "max_running": "1"}) \
        .status_code == 409
    assert TestSite.select().join(Site).where(Site.name == "alpha").get().max_running == 7


def test_anonymous_visitors_read_but_cannot_change(visitor):
    assert visitor.get("/").status_code == 200
    for url in ("/create", "/create/stress-ping", "/approvals", "/account"):
        reply = visitor.get(url)
        assert reply.status_code == 302 and "/login?next=" in reply.headers["Location"], url
    visitor.get("/login")  # a valid CSRF token, but no login
    assert visitor.post("/tests/1/cancel").status_code == 302


def test_hostile_names_are_escaped_on_the_action_pages(as_user):
    site = make_site("gamma", run_seconds=0)
    Site.update(status="excluded", status_reason=HOSTILE).where(Site.id == site.id).execute()
    make_template("hostile", sites=[site], description=HOSTILE)
    alice = as_user("alice")
    for url in ("/create", "/create/hostile"):
        page = alice.get(url).get_data(as_text=True)
        assert HOSTILE not in page and "&lt;img" in page, url
    assert "excluded: jobs likely to fail" in page
    reply = _create(alice, template="hostile", sites=["gamma"], description=HOSTILE)
    test = Test.get()
    page = alice.get(reply.headers["Location"]).get_data(as_text=True)
    assert HOSTILE not in page and "warning: site gamma is excluded" in page
    assert test.description == HOSTILE


def test_cloning_follows_the_creation_rules(app, as_user, token_for):
    """Finding 6: a plain user cannot clone a functional test (nor one of an
    inactive template) into a test of their own; an admin can."""
    from appliance import lifecycle
    from appliance.models import Template
    nightly = Template.get(Template.name == "nightly")
    functional = lifecycle.create_test(nightly, 2e9, 2e9 + 60, owner="server",
                                       state=TestState.RUNNING)
    alice = as_user("alice")
    assert alice.post(f"/tests/{functional.id}/clone").status_code == 403
    api = app.test_client()
    reply = api.post(f"/api/v1/tests/{functional.id}/clone",
                     headers={"Authorization": f"Bearer {token_for('bob')}"})
    assert reply.status_code == 403 and "functional" in reply.get_json()["error"]
    assert Test.select().where(Test.cloned_from == functional.id).count() == 0
    stress = lifecycle.create_test(Template.get(Template.name == "stress-ping"), 2e9, 2e9 + 60,
                                   owner="bob", state=TestState.COMPLETED)
    Template.update(active=False).where(Template.name == "stress-ping").execute()
    assert alice.post(f"/tests/{stress.id}/clone").status_code == 403
    root = api.post(f"/api/v1/tests/{functional.id}/clone",
                    headers={"Authorization": f"Bearer {token_for('root')}"})
    assert root.status_code == 201


def test_the_approvals_page_shows_what_an_admin_approves(as_user):
    """Category, sites, load, image, duration, and what differs from the template."""
    alice = as_user("alice")
    _create(alice, max_running="250000", sites=["alpha"])
    test = Test.get()
    Test.update(image="registry.example:5000/ana@sha256:" + "ab" * 32,
                command="rm -rf $HOME <script>").where(Test.id == test.id).execute()
    _create(alice)  # the template's defaults but max running 3 instead of 2
    page = as_user("root").get("/approvals").get_data(as_text=True)
    section = page[page.index(f'id="test-{test.id}"'):page.index(f'id="test-{test.id + 1}"')]
    assert '<dd class="category">stress</dd>' in section
    assert '<dd class="duration">10m</dd>' in section
    assert "sha256:" + "ab" * 32 in section
    assert "&lt;script&gt;" in section and "<script>" not in section
    assert "<td>alpha</td><td>250000</td>" in section and "<td>beta</td>" not in section
    for what, before, after in (("sites", "alpha, beta", "alpha"),
                                ("max running (alpha)", "2", "250000"),
                                ("image", "None", "registry.example")):
        assert f"<td>{what}</td><td><code>{before}" in section, what
        assert f"<code>{after}" in section, what
    other = page[page.index(f'id="test-{test.id + 1}"'):]
    assert "<td>max running (alpha, beta)</td><td><code>2</code></td><td><code>3</code>" in other
    assert "<td>sites</td>" not in other
