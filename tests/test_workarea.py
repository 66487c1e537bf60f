"""The job folder's spec file: written in one piece, read back as JSON."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from appliance import workarea

VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                      | st.text(), lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@given(data=st.dictionaries(st.text(max_size=12), VALUES, max_size=8))
def test_a_spec_file_reads_back_as_written(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("spec") / "spec.json"
    workarea.write_new_json(str(path), data)
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(data))
    assert text.count("\n") == (len(data) + 2 if data else 1), "a key per line (people read it)"


def test_values_json_cannot_hold_are_written_as_text(tmp_path):
    path = tmp_path / "spec.json"
    workarea.write_new_json(str(path), {"when": object, "n": 1})
    assert json.loads(path.read_text()) == {"when": str(object), "n": 1}
