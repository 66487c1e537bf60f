"""Read-only pages: tests in progress and recent tests."""
from flask import Blueprint, render_template

from appliance.models import Template, Test
from appliance.states import TEST_ON_SUBMIT_HOST

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index():
    active = (Test.select(Test, Template).join(Template)
              .where(Test.state.in_([s.value for s in TEST_ON_SUBMIT_HOST]))
              .order_by(Test.id.desc()))
    recent = Test.select(Test, Template).join(Template).order_by(Test.id.desc()).limit(50)
    return render_template("index.html", active=active, recent=recent)
