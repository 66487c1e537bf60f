"""Finding 7: what a request carries is bounded before a view sees it: deep
JSON, huge integers, NaN and oversized bodies are a 400 or 413, never a 500."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.web.bodies import MAX_BODY_BYTES, MAX_JSON_DEPTH, _depth

DEEP = "[" * 1000 + "]" * 1000
WRITES = [("POST", "/api/v1/tests"), ("PUT", "/api/v1/templates/zz"),
          ("PUT", "/api/v1/sites/zz")]
BODIES = {"deep array": '{"template": "stress-ping", "x": ' + DEEP + "}",
          "deep object": '{"a": ' * 1000 + "1" + "}" * 1000,
          "huge int": '{"template": "stress-ping", "start": ' + "9" * 400 + "}",
          "NaN": '{"template": "stress-ping", "start": NaN}'}


@pytest.fixture
def api(app, token_for):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token_for('root')}"}
    return lambda method, url, body: client.open(url, method=method, data=body,
                                                 headers=headers,
                                                 content_type="application/json")


@pytest.mark.parametrize("kind", BODIES)
@pytest.mark.parametrize(("method", "url"), WRITES)
def test_hostile_json_is_a_400(api, method, url, kind):
    reply = api(method, url, BODIES[kind])
    assert reply.status_code == 400, reply.get_data(as_text=True)[:200]
    assert "error" in reply.get_json()


def test_oversized_body_is_refused(api):
    body = json.dumps({"template": "stress-ping", "description": "x" * MAX_BODY_BYTES})
    assert api("POST", "/api/v1/tests", body).status_code == 413


@given(st.recursive(st.none() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_depth_scan_agrees_with_the_parser(document):
    def depth(value):
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        return 0
    assert _depth(json.dumps(document)) == depth(document)
    assert depth(document) <= MAX_JSON_DEPTH or _depth(json.dumps(document)) > MAX_JSON_DEPTH
