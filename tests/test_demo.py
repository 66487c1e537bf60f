"""The demo data: loaded once, a functional test scheduled on the server's first round,
a stress template ready, and the first steps named."""
from __future__ import annotations

from appliance import demo
from appliance.agents.runner import Heartbeat
from appliance.agents.server import ServerAgent
from appliance.models import Site, Template, Test
from appliance.states import TestState

T0 = 1_900_000_000.0


def test_loading_twice_changes_nothing(db):
    assert demo.load().startswith("added demo-local-1")
    assert demo.load() == "already loaded"
    assert Site.select().count() == len(demo.SITES)
    assert Template.select().count() == len(demo.TEMPLATES)


def test_a_functional_test_is_assigned_on_the_first_round_and_a_stress_template_waits(
        db, settings):
    demo.load()
    heartbeat = Heartbeat("submit", "dev-host", 5)
    heartbeat.start(T0)
    heartbeat.beat(T0, 0, force=True)
    ServerAgent(settings).loop_once(T0)
    tests = list(Test.select())
    assert [(t.template.name, t.state, t.submit_host) for t in tests] == [
        ("demo-functional", TestState.SCHEDULED.value, "dev-host")]
    stress = Template.get(Template.name == "demo-stress")
    assert stress.category == "stress" and stress.active


def test_only_on_request_and_first_steps_say_where_to_click():
    assert demo.enabled({"HC_DEMO": "1"})
    assert not demo.enabled({}) and not demo.enabled({"HC_DEMO": "0"})
    steps = " ".join(demo.first_steps("admin"))
    assert "log in as admin" in steps and "demo-functional" in steps
    assert "New stress test" in steps and "demo-stress" in steps
