"""Finding 4: the log browser opens only regular files. FIFOs, sockets, link
loops and names that are not UTF-8 are listed and marked (never a hang or a
500); big folders are paged; downloads are never a renderable type."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from appliance.web import create_app
from appliance.web.testdirs import PAGE_ENTRIES


@pytest.fixture
def area(db, settings):
    root = os.path.join(settings.work_dir, "tests", "7", "alpha", "job-1")
    os.makedirs(root)
    app = create_app(settings)
    app.config["TESTING"] = True
    return app.test_client(), root


def _get(client, url, seconds=10):
    """The reply, or a failure if the request hangs (a FIFO opened for reading)."""
    replies = []
    worker = threading.Thread(target=lambda: replies.append(client.get(url)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert replies, f"{url} hung for {seconds} s"
    return replies[0]


def test_fifo_is_listed_and_never_opened(area):
    client, root = area
    os.mkfifo(os.path.join(root, "pipe"))
    listing = _get(client, "/testdirs/7/alpha/job-1/")
    assert listing.status_code == 200 and "FIFO" in listing.get_data(as_text=True)
    for url in ("/testdirs/7/alpha/job-1/pipe", "/testdirs/7/alpha/job-1/pipe?download=1"):
        assert _get(client, url).status_code == 404


def test_socket_and_link_loop_are_marked(area):
    client, root = area
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.path.join(root, "sock"))
    os.symlink("loop-b", os.path.join(root, "loop-a"))
    os.symlink("loop-a", os.path.join(root, "loop-b"))
    os.symlink("missing", os.path.join(root, "dangling"))
    try:
        page = _get(client, "/testdirs/7/alpha/job-1/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "socket" in text and "looping link" in text
        for name in ("sock", "loop-a", "dangling"):
            assert _get(client, f"/testdirs/7/alpha/job-1/{name}").status_code == 404
    finally:
        listener.close()


def test_names_that_are_not_utf8_are_shown_safely(area):
    client, root = area
    with open(os.path.join(os.fsencode(root), b"bad-\xff\xfe.log"), "wb") as handle:
        handle.write(b"x")
    page = _get(client, "/testdirs/7/alpha/job-1/")
    assert page.status_code == 200 and "bad-\\xff\\xfe.log" in page.get_data(as_text=True)


def test_big_folders_are_paged(area):
    client, root = area
    for n in range(PAGE_ENTRIES * 3 + 7):
        open(os.path.join(root, f"f-{n}"), "w").close()
    first = _get(client, "/testdirs/7/alpha/job-1/").get_data(as_text=True)
    assert first.count("<tr>") == PAGE_ENTRIES + 1 and "page 1 of 4" in first
    assert "f-0<" in first and f"f-{PAGE_ENTRIES}<" not in first
    last = _get(client, "/testdirs/7/alpha/job-1/?page=4").get_data(as_text=True)
    assert last.count("<tr>") == 8 and f"f-{PAGE_ENTRIES * 3 + 6}<" in last
    for odd in ("0", "-3", "nan", "9" * 400):
        assert _get(client, f"/testdirs/7/alpha/job-1/?page={odd}").status_code == 200


def test_downloads_are_never_rendered(area):
    client, root = area
    with open(os.path.join(root, "page.html"), "w") as handle:
        handle.write("<script>alert(1)</script>")
    reply = _get(client, "/testdirs/7/alpha/job-1/page.html?download=1")
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Content-Disposition"].startswith("attachment")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_template_environment_is_not_served_to_anonymous_readers(db, settings):
    from appliance.agents.submit import SubmitAgent
    from tests.factories import make_running_test, make_site, make_template
    template = make_template("with-secret", sites=[make_site("gamma", run_seconds=0)],
                             job={"command": "true",
                                  "environment": {"SITE_TOKEN": "tok-do-not-show-42"}})
    test = make_running_test(template, settings.hostname, time.time() - 5)
    SubmitAgent(settings).loop_once(time.time())
    client = create_app(settings).test_client()
    folder = f"/testdirs/{test.id}/gamma/"
    job = next(line for line in client.get(folder).get_data(as_text=True).split('"')
               if line.startswith("job-"))
    spec = client.get(f"{folder}{job}spec.json").get_data(as_text=True)
    assert "SITE_TOKEN" in spec and "tok-do-not-show-42" not in spec
