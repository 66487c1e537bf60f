"""The API's writes with tokens: create, act, change load, admin puts; bad
bodies get 400 naming the fields and change nothing; cookies never write."""
from __future__ import annotations

import pytest

from appliance.models import Site, Template, Test, TestLog, TestSite
from appliance.states import TestState


@pytest.fixture
def api(app, token_for):
    client = app.test_client()

    def call(method, url, user=None, **kwargs):
        headers = {"Authorization": f"Bearer {token_for(user)}"} if user else {}
        return client.open("/api/v1" + url, method=method, headers=headers, **kwargs)
    return call


def test_create_send_approve_and_read_back(api):
    reply = api("POST", "/tests", "alice", json={"template": "stress-ping", "duration": "5m",
                                                 "sites": ["alpha"], "load": {"max_running": 4}})
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert body["state"] == "unapproved" and body["owner"] == "alice" and body["warnings"] == []
    assert reply.headers["Location"].endswith(f"/api/v1/tests/{body['id']}")
    assert api("POST", f"/tests/{body['id']}/approve", "alice").status_code == 403
    approved = api("POST", f"/tests/{body['id']}/approve", "root")
    assert approved.status_code == 200 and approved.get_json()["state"] == "tobescheduled"
    assert api("POST", f"/tests/{body['id']}/approve", "root").status_code == 409
    detail = api("GET", f"/tests/{body['id']}").get_json()
    assert detail["sites"]["alpha"]["load"]["max_running"] == 4
    export = api("GET", f"/tests/{body['id']}/export").get_json()
    assert export["state"] == "tobescheduled" and export["jobs"] == []


def test_admin_creates_approved_with_an_image(api):
    reply = api("POST", "/tests", "root", json={"template": "stress-ping", "approve": True,
                                                "image": "ci/payload:abc123"})
    assert reply.status_code == 201 and reply.get_json()["state"] == "tobescheduled"
    assert Test.get().image == "ci/payload:abc123"
    denied = api("POST", "/tests", "alice", json={"template": "stress-ping", "approve": True})
    assert denied.status_code == 400 and "approve" in denied.get_json()["fields"]


@pytest.mark.parametrize("body, fields", [
    ({}, {"template"}),
    ({"template": "nope"}, {"template"}),
    ({"template": "stress-ping", "sites": ["alpha", "zeta"]}, {"sites"}),
    ({"template": "stress-ping", "sites": "alpha"}, {"sites"}),
    ({"template": "stress-ping", "start": "yesterday-ish"}, {"start"}),
    ({"template": "stress-ping", "start": True}, {"start"}),
    ({"template": "stress-ping", "end": "+1h", "duration": "1h"}, {"end"}),
    ({"template": "stress-ping", "start": 2000, "end": 1000}, {"end"}),
    ({"template": "stress-ping", "duration": "-5m"}, {"duration"}),
    ({"template": "stress-ping", "duration": "99d"}, {"end"}),
    ({"template": "stress-ping", "load": {"max_running": 0, "speed": 3}},
     {"load.max_running", "load.speed"}),
    ({"template": "stress-ping", "load": {"resubmit": "yes"}}, {"load.resubmit"}),
    ({"template": "stress-ping", "load": {"job_cap": 10**30}}, {"load.job_cap"}),
    ({"template": "stress-ping", "load": [1]}, {"load"}),
    ({"template": "stress-ping", "colour": "red"}, {"colour"}),
    ({"template": "stress-ping", "send_for_approval": "no"}, {"send_for_approval"}),
    ({"template": "nightly"}, {"template"}),
    ({"template": "stress-ping", "image": ""}, {"image"}),
    ({"template": "stress-ping", "image": "Not An/Image"}, {"image"}),
])
def test_bad_bodies_name_their_fields_and_change_nothing(api, body, fields):
    reply = api("POST", "/tests", "alice", json=body)
    assert reply.status_code == 400
    assert set(reply.get_json()["fields"]) == fields, reply.get_json()
    assert Test.select().count() == 0 and TestLog.select().count() == 0


def test_infinite_times_are_refused(api):
    for body in ('{"template": "stress-ping", "start": Infinity}',
                 '{"template": "stress-ping", "duration": NaN}'):
        reply = api("POST", "/tests", "alice", data=body, content_type="application/json")
        assert reply.status_code == 400, body
    assert Test.select().count() == 0


def test_not_json_and_not_an_object(api):
    assert api("POST", "/tests", "alice", data="template=x").status_code == 415
    assert api("POST", "/tests", "alice", data="[1,", content_type="application/json") \
        .status_code == 400
    assert api("POST", "/tests", "alice", json=[1, 2]).status_code == 400


def test_writes_need_a_token_not_a_cookie(app, api, as_user):
    visitor = as_user("alice")  # a logged-in browser session
    reply = visitor.client.post("/api/v1/tests", json={"template": "stress-ping"})
    assert reply.status_code == 401 and "Bearer" in reply.get_json()["error"]
    assert api("POST", "/tests", json={"template": "stress-ping"}).status_code == 401
    assert Test.select().count() == 0


def test_load_changes_and_their_refusals(api):
    test_id = api("POST", "/tests", "alice", json={"template": "stress-ping"}).get_json()["id"]
    reply = api("PATCH", f"/tests/{test_id}/sites/beta", "alice",
                json={"max_running": 9, "resubmit": False, "job_cap": 50})
    assert reply.status_code == 200
    assert sorted(reply.get_json()["changes"]) == ["beta: job_cap -> 50",
                                                   "beta: max_running -> 9",
                                                   "beta: resubmit -> False"]
    row = TestSite.select().join(Site).where(Site.name == "beta").get()
    assert (row.max_running, row.resubmit, row.job_cap) == (9, False, 50)
    assert api("PATCH", f"/tests/{test_id}/sites/beta", "bob", json={"max_running": 1}) \
        .status_code == 403
    assert api("PATCH", f"/tests/{test_id}/sites/zeta", "alice", json={"max_running": 1}) \
        .status_code == 404
    bad = api("PATCH", f"/tests/{test_id}/sites/beta", "alice", json={"max_running": "2"})
    assert bad.status_code == 400 and "max_running" in bad.get_json()["fields"]
    assert api("PATCH", f"/tests/{test_id}/sites/beta", "alice", json={}).status_code == 400
    api("POST", f"/tests/{test_id}/cancel", "alice")
    assert api("PATCH", f"/tests/{test_id}/sites/beta", "root", json={"max_running": 1}) \
        .status_code == 409
    assert TestSite.select().join(Site).where(Site.name == "beta").get().max_running == 9


def test_clone_and_unknown_tests(api):
    test_id = api("POST", "/tests", "alice", json={"template": "stress-ping"}).get_json()["id"]
    clone = api("POST", f"/tests/{test_id}/clone", "bob")
    assert clone.status_code == 201
    assert clone.get_json()["owner"] == "bob" and clone.get_json()["state"] == "draft"
    assert api("POST", "/tests/999/cancel", "root").status_code == 404
    assert api("POST", f"/tests/{test_id}/explode", "root").status_code == 404
    assert api("GET", "/tests/999/export").status_code == 404
    assert api("GET", "/nowhere").get_json()["error"]


def test_admins_put_templates_and_sites(api):
    document = {"sites": ["alpha"], "duration": "2m", "job": {"command": "echo ci"}}
    assert api("PUT", "/templates/ci-run", "alice", json=document).status_code == 403
    assert api("PUT", "/templates/ci-run", "root", json=document).status_code == 200
    assert api("PUT", "/templates/ci-run", "root", json=document | {"duration": "3m"}) \
        .status_code == 200, "replaces"
    assert Template.get(Template.name == "ci-run").duration == 180
    bad = api("PUT", "/templates/ci-run", "root", json=document | {"job": {"cmd": "x"}})
    assert bad.status_code == 400 and bad.get_json()["fields"]
    assert api("PUT", "/templates/ci-run", "root", json=document | {"name": "other"}) \
        .status_code == 400
    for huge in ({"duration": "99999d"}, {"load": {"max_running": 10**30}}):
        reply = api("PUT", "/templates/ci-run", "root", json=document | huge)
        assert reply.status_code == 400 and reply.get_json()["fields"], huge
    created = api("PUT", "/sites/ci-site", "root", json={"backend": "fake",
                                                          "settings": {"run_seconds": 1}})
    assert created.status_code == 201 and created.get_json()["backend"] == "fake"
    assert api("PUT", "/sites/ci-site", "root", json={"backend": "fake"}).status_code == 200
    for body in ({"backend": "nope"}, {"backend": "fake", "settings": {"speed": 1}},
                 {"backend": "fake", "colour": 1}):
        reply = api("PUT", "/sites/ci-site", "root", json=body)
        assert reply.status_code == 400 and reply.get_json()["fields"], body
    assert api("PUT", "/sites/x", "bob", json={"backend": "fake"}).status_code == 403
    assert Site.select().where(Site.name == "x").count() == 0


def test_hostile_text_comes_back_as_data(api):
    hostile = "<script>alert(1)</script>"
    reply = api("POST", "/tests", "alice", json={"template": "stress-ping",
                                                 "description": hostile})
    assert reply.status_code == 201 and reply.content_type == "application/json"
    assert Test.get().description == hostile
    assert api("GET", f"/tests/{reply.get_json()['id']}").get_json()["state"] == \
        TestState.UNAPPROVED


def test_a_registry_tag_is_resolved_once_at_creation(api, app, registry, pushed_images):
    """The test keeps REGISTRY/NAME@DIGEST: the API, the test page and the log say so."""
    image = f"{registry.address}/hc-test/payload:v1"
    reply = api("POST", "/tests", "root", json={"template": "stress-ping", "image": image})
    assert reply.status_code == 201, reply.get_json()
    pinned = f"{registry.address}/hc-test/payload@{pushed_images['v1']}"
    assert reply.get_json()["image"] == pinned
    test_id = reply.get_json()["id"]
    assert api("GET", f"/tests/{test_id}").get_json()["image"] == pinned
    assert pinned in app.test_client().get(f"/tests/{test_id}").get_data(as_text=True)
    assert TestLog.select().where(TestLog.message.contains(f"tag {image} resolved")).exists()


def test_an_unresolvable_tag_is_a_field_error(api, registry, pushed_images):
    reply = api("POST", "/tests", "root", json={
        "template": "stress-ping", "image": f"{registry.address}/hc-test/payload:nope"})
    assert reply.status_code == 400
    assert "manifest unknown" in reply.get_json()["fields"]["image"]
    assert Test.select().count() == 0


@pytest.mark.parametrize("body", [{"start": 1e15}, {"start": "9999-12-31T23:59:59"},
                                  {"start": "9999-12-31T00:00:00", "duration": "2d"},
                                  {"start": -1e12}, {"start": 10**30}])
def test_times_outside_the_range_any_page_shows_are_refused(api, body):
    reply = api("POST", "/tests", "alice", json={"template": "stress-ping"} | body)
    assert reply.status_code == 400, reply.get_json()
    assert Test.select().count() == 0


def test_pages_show_a_stored_row_whatever_its_times(api, as_user):
    """A row written before the bounds existed (or by hand) with times no calendar
    shows: the lists, the approvals page, the test page and the API still answer."""
    test_id = api("POST", "/tests", "alice", json={"template": "stress-ping"}).get_json()["id"]
    Test.update(start_at=1e15, end_at=1e16, state=TestState.UNAPPROVED.value) \
        .where(Test.id == test_id).execute()
    visitor = as_user("root")
    for url in ("/", "/tests/", "/approvals", f"/tests/{test_id}", "/api/v1/tests",
                f"/api/v1/tests/{test_id}"):
        reply = visitor.get(url)
        assert reply.status_code == 200, (url, reply.get_data(as_text=True)[-500:])
    assert "out of range" in visitor.get(f"/tests/{test_id}").get_data(as_text=True)
