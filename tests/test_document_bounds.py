"""Finding 7: template documents are bounded: no YAML alias bomb, no
description that makes a page megabytes, no command longer than the kernel
takes, no error message quoting a whole document."""
from __future__ import annotations

import pytest

from appliance.documents import SpecError, parse_document, save_template
from appliance.limits import MAX_COMMAND, MAX_DESCRIPTION, MAX_DOCUMENT_BYTES
from tests.factories import make_site

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [*{chr(97 + n)},*{chr(97 + n)},*{chr(97 + n)},"
    f"*{chr(97 + n)},*{chr(97 + n)},*{chr(97 + n)},*{chr(97 + n)},*{chr(97 + n)}]\n"
    for n in range(9))


@pytest.mark.parametrize("field", ["name", "duration", "job: {timeout"])
def test_alias_bomb_is_refused_at_once(field):
    source = BOMB + (f"{field}: *j\n" if "{" not in field else f"{field}: *j}}\n")
    with pytest.raises(SpecError, match="aliases"):
        parse_document(source)


def test_oversized_document_and_messages_are_bounded():
    with pytest.raises(SpecError, match="KiB"):
        parse_document("name: x\n" + "#" * MAX_DOCUMENT_BYTES)
    with pytest.raises(SpecError) as refused:
        parse_document("a: [" + "x" * 100_000)
    assert len(str(refused.value)) < 1000


@pytest.mark.parametrize(("job", "extra", "message"), [
    ({"command": "x" * (MAX_COMMAND + 1)}, {}, "job.command: at most"),
    ({"command": "é" * (MAX_COMMAND // 2 + 1)}, {}, "bytes"),
    ({"command": "true"}, {"description": "d" * (MAX_DESCRIPTION + 1)}, "description: at most"),
    ({"command": "true", "environment": {f"V{n}": "v" * 1000 for n in range(40)}}, {},
     "environment: at most"),
])
def test_sizes_are_limited(db, job, extra, message):
    site = make_site("alpha")
    with pytest.raises(SpecError, match=message):
        save_template({"name": "big", "sites": [site.name], "job": job, **extra})
