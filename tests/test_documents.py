"""Template and site documents: exact errors naming the field, nothing saved on error."""
from __future__ import annotations

import pytest

from appliance.documents import SpecError, check_site, parse_document, save_template
from appliance.models import Site, Template
from tests.factories import make_site


def _document(**changes) -> dict:
    document = {"name": "ping", "category": "functional", "sites": ["a"],
                "load": {"max_running": 2, "min_queue_depth": 1, "job_cap": 10},
                "duration": "2h", "job": {"command": "echo hi", "timeout": "10m",
                                          "environment": {"X": 1}}}
    document.update(changes)
    return document


def test_a_valid_template_is_saved_with_its_job(db):
    make_site("a")
    template = save_template(_document())
    assert template.category == "functional" and template.duration == 7200
    assert template.max_running == 2 and template.job_cap == 10 and template.resubmit is True
    assert template.job_template.timeout == 600 and template.job_template.environment == {"X": "1"}
    assert [ts.site.name for ts in template.template_sites] == ["a"]


@pytest.mark.parametrize("changes,message", [
    ({"colour": "red"}, "template.colour: unknown key"),
    ({"name": "bad name!"}, "template.name: 'bad name!' is not a valid name"),
    ({"category": "nightly"}, "template.category: must be one of functional, stress"),
    ({"sites": ["nowhere"]}, "template.sites: unknown site 'nowhere'"),
    ({"sites": []}, "template.sites: must be a non-empty list"),
    ({"sites": ["a", "a"]}, "a site is listed twice"),
    ({"load": {"max_running": 0}}, "template.load.max_running: must be a whole number ≥ 1"),
    ({"load": {"max_running": True}}, "template.load.max_running: must be a whole number"),
    ({"load": {"resubmit": "yes"}}, "template.load.resubmit: must be true or false"),
    ({"load": {"burst": 3}}, "template.load.burst: unknown key"),
    ({"duration": "forever"}, "template.duration: 'forever' is not a duration"),
    ({"job": {}}, "template.job.command: required"),
    ({"job": {"command": "x", "metrics_file": "../escape"}}, "template.job.metrics_file"),
    ({"job": {"command": "x", "environment": {"1X": "a"}}}, "'1X' is not a valid variable name"),
    ({"job": "echo"}, "template.job: must be a mapping"),
    ({"job": {"command": "x", "image": "Reg:5000/Payload"}}, "template.job.image: "),
    ({"job": {"command": "x", "image": "r.org/p@sha256:12"}}, "the digest must be sha256:"),
])
def test_invalid_templates_name_the_field_and_save_nothing(db, changes, message):
    make_site("a")
    with pytest.raises(SpecError) as error:
        save_template(_document(**changes))
    assert message in str(error.value)
    assert Template.select().count() == 0


def test_existing_template_needs_replace(db):
    make_site("a")
    save_template(_document())
    with pytest.raises(SpecError, match="use --replace"):
        save_template(_document())
    changed = save_template(_document(load={"max_running": 7}), replace=True)
    assert changed.max_running == 7 and Template.select().count() == 1


def test_documents_must_be_mappings():
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_document("name: [unclosed")
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_document("- a\n- b\n")


@pytest.mark.parametrize("backend,backend_settings,message", [
    ("teleport", {}, "site.backend: unknown backend 'teleport'"),
    ("fake", {"failure_rate": 2}, "failure_rate must be between 0 and 1"),
    ("fake", {"speed": 1}, "unknown fake setting 'speed'"),
    ("local", {"kill_grace": "soon"}, "kill_grace must be a number"),
])
def test_site_settings_are_validated(db, backend, backend_settings, message):
    with pytest.raises(SpecError) as error:
        check_site("s", backend, backend_settings)
    assert message in str(error.value)
    assert Site.select().count() == 0
