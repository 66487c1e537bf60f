"""The command line: bad input exits 2 with one line and changes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from appliance.cli import main
from appliance.db import database
from appliance.models import Site, Template, Test, TestLog, User


@pytest.fixture
def hc(tmp_path, monkeypatch, capsys):
    for name in list(__import__("os").environ):
        if name.startswith("HC_") and not name.startswith("HC_REQUIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HC_LOG_LEVEL", "error")

    def run(*argv, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    yield run
    database.close()


def _setup(hc):
    assert hc("site", "add", "a", "--backend", "local")[0] == 0
    assert hc("site", "add", "b", "--backend", "fake", "--set", "failure_rate=0.5")[0] == 0
    template = {"name": "t", "sites": ["a", "b"], "job": {"command": "true"}, "duration": "1h"}
    assert hc("template", "add", "-", stdin=json.dumps(template))[0] == 0


def _snapshot():
    return [m.select().count() for m in (Site, Template, Test, TestLog, User)]


def test_a_test_goes_through_its_life(hc):
    _setup(hc)
    code, out, _ = hc("test", "create", "t", "--start", "+1h", "--duration", "30m",
                      "--site", "a", "--max-running", "4")
    assert code == 0 and "test 1 created (draft)" in out
    assert hc("test", "send-for-approval", "1")[1].strip() == "test 1: unapproved"
    assert hc("test", "approve", "1")[1].strip() == "test 1: tobescheduled"
    code, out, _ = hc("test", "show", "1", "--log")
    assert code == 0 and "approved by cli:" in out and "a " in out and " 4 " in out
    assert hc("test", "set-load", "1", "a", "--max-running", "6")[1].strip() \
        == "a: max_running -> 6"
    assert hc("test", "clone", "1")[1].startswith("test 2 cloned from test 1")
    assert hc("test", "cancel", "1")[0] == 0
    code, out, _ = hc("test", "list")
    assert code == 0 and "cancelled" in out and "draft" in out
    assert Test.get_by_id(2).cloned_from_id == 1


@pytest.mark.parametrize("argv,message", [
    (("site", "add", "a", "--backend", "local"), "site 'a' exists"),
    (("site", "add", "x y", "--backend", "local"), "site.name: 'x y' is not a valid name"),
    (("site", "add", "c", "--backend", "nope"), "site.backend: unknown backend 'nope'"),
    (("site", "add", "c", "--backend", "fake", "--set", "failure_rate=7"), "between 0 and 1"),
    (("site", "add", "c", "--backend", "fake", "--set", "nonsense"), "key=value"),
    (("site", "set-status", "zz", "offline", "--reason", "x"), "no site named 'zz'"),
    (("template", "add", "/no/such/file"), "No such file or directory"),
    (("test", "create", "nope"), "no template named 'nope'"),
    (("test", "create", "t", "--start", "yesterday"), "'yesterday' is not a time"),
    (("test", "create", "t", "--end", "2000-01-01T00:00"), "end time must be after"),
    (("test", "create", "t", "--site", "zz"), "unknown site 'zz'"),
    (("test", "create", "t", "--max-running", "0"), "max_running must be at least 1"),
    (("test", "approve", "1"), "test 1 does not exist"),
    (("test", "show", "99"), "no such test"),
    (("test", "set-load", "1", "a"), "give at least one of"),
])
def test_bad_input_exits_2_and_changes_nothing(hc, argv, message):
    _setup(hc)
    before = _snapshot()
    code, out, err = hc(*argv)
    assert code == 2, (out, err)
    assert message in err and err.count("\n") == 1 and err.startswith("hc: error: ")
    assert _snapshot() == before


def test_refused_transition_exits_2(hc):
    _setup(hc)
    hc("test", "create", "t")
    code, _, err = hc("test", "approve", "1")
    assert code == 2 and "test 1 is draft: it cannot become tobescheduled" in err
    assert Test.get_by_id(1).state == "draft"


def test_template_file_errors_name_the_field(hc, tmp_path):
    _setup(hc)
    path = tmp_path / "t.yaml"
    path.write_text("name: u\nsites: [a]\njob: {command: true, timeot: 5}\n")
    code, _, err = hc("template", "add", str(path))
    assert code == 2 and "template.job.timeot: unknown key" in err


def test_user_add_hashes_the_password(hc):
    code, _, _ = hc("user", "add", "ann", "--role", "admin", "--password-stdin",
                    stdin="correct horse\n")
    assert code == 0
    user = User.get(User.name == "ann")
    assert user.role == "admin" and "correct horse" not in user.password_hash
    assert hc("user", "add", "bob", "--password-stdin", stdin="short\n")[0] == 2


def test_bad_setting_exits_2(hc, monkeypatch):
    monkeypatch.setenv("HC_SUBMIT_BATCH", "lots")
    code, _, err = hc("site", "list")
    assert code == 2 and "HC_SUBMIT_BATCH: 'lots' is not a whole number" in err


def test_users_and_tokens(hc, tmp_path):
    code, _, err = hc("user", "add", "ann", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 8 characters" in err
    assert not (tmp_path / "data").exists(), "refused before the database was touched"
    assert hc("user", "add", "ann", "--password-stdin", stdin="long enough\n")[0] == 0
    code, token, _ = hc("token", "add", "ann", "--name", "ci")
    assert code == 0 and token.strip().startswith("hc_")
    code, listing, _ = hc("token", "list", "--user", "ann")
    assert code == 0 and "ci" in listing and token.strip() not in listing
    assert hc("token", "revoke", "1")[0] == 0
    code, _, err = hc("token", "revoke", "1")
    assert code == 2 and "no valid token 1" in err
    assert hc("token", "add", "nobody")[0] == 2


def test_credential_commands_add_list_show_renew_remove(hc, tmp_path):
    import os
    import time

    from tests.gridca import jwt, user_certificate
    cert, key = user_certificate(time.time())
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "token").write_text(jwt({"sub": "robot", "exp": time.time() + 600}))
    code, out, _ = hc("credential", "add", "robot", "--cert", str(tmp_path / "cert.pem"),
                      "--key", str(tmp_path / "key.pem"), "--proxy-lifetime", "1h")
    assert code == 0 and "x509 of /DC=org/O=HC Test/CN=HC Robot" in out
    assert hc("credential", "add", "iam", "--token-file", str(tmp_path / "token"))[0] == 0
    assert hc("site", "add", "grid", "--backend", "fake", "--set", "credential=robot")[0] == 0
    code, out, _ = hc("credential", "list")
    assert code == 0 and "robot" in out and "grid" in out and "warning" in out  # token: 10 min
    code, out, _ = hc("credential", "show", "robot")
    assert "renewed after 50%" in out and "added" in out and "BEGIN" not in out
    assert hc("credential", "renew", "robot")[0] == 0
    assert "renewed" in hc("credential", "show", "robot")[1]
    code, _, err = hc("credential", "remove", "robot")
    assert code == 2 and "used by site(s) grid" in err
    code, _, err = hc("credential", "add", "bad", "--cert", str(tmp_path / "token"))
    assert code == 2 and "no PEM certificate" in err
    assert hc("credential", "remove", "iam")[0] == 0
    assert "iam" not in hc("credential", "list")[1]
    assert not os.path.exists(tmp_path / "data" / "secrets" / "iam")
    assert hc("credential", "show", "nope")[0] == 2


def test_password_change_and_logout_end_web_sessions(hc):
    from appliance import sessions
    assert hc("user", "add", "ann", "--password-stdin", stdin="long enough\n")[0] == 0
    ann = User.get(User.name == "ann")
    first = sessions.start(ann, "password", "127.0.0.1", "tests")
    code, out, _ = hc("user", "password", "ann", "--password-stdin", stdin="another long one\n")
    assert code == 0 and "1 web session(s) ended" in out and sessions.lookup(first) is None
    second = sessions.start(ann, "password", "127.0.0.1", "tests")
    code, out, _ = hc("user", "logout", "ann")
    assert code == 0 and sessions.lookup(second) is None
    assert hc("user", "logout", "nobody")[0] == 2


@pytest.mark.parametrize("argv", [("test", "show", str(2**64)), ("test", "cancel", "9" * 30),
                                  ("test", "show", "-1"), ("token", "revoke", str(2**63)),
                                  ("test", "list", "--limit", "9" * 30)])
def test_ids_beyond_64_bits_are_usage_errors(hc, argv):
    assert hc("site", "list")[0] == 0
    with pytest.raises(SystemExit) as stop:
        hc(*argv)
    assert stop.value.code == 2


def test_terminal_escapes_are_never_printed(hc):
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m"
    assert hc("site", "add", "a", "--backend", "local")[0] == 0
    template = {"name": "t", "sites": ["a"], "job": {"command": "true"}, "duration": "1h",
                "description": hostile}
    code, _, err = hc("template", "add", "-", stdin=json.dumps(template))
    assert code == 0, err
    Site.update(cloud=hostile).execute()   # as if an older version had let them in
    from appliance.models import JobTemplate
    JobTemplate.update(image=hostile, command=hostile).execute()
    for argv in (("site", "list"), ("template", "list"), ("template", "show", "t")):
        code, out, err = hc(*argv)
        assert code == 0 and "\x1b" not in out + err and "\x9b" not in out + err, argv


def test_each_command_loads_only_its_own_modules():
    """`hc X` builds the parser from the modules COMMAND_MODULES names for X; the table
    must list every top-level command of every module (else `hc X` would not exist)."""
    import argparse
    import importlib

    from appliance import cli

    everything = cli.build_parser()
    words = set(everything._subparsers._group_actions[0].choices)
    listed = {w for ws in cli.COMMAND_MODULES.values() for w in ws}
    assert words == listed
    for name, module_words in cli.COMMAND_MODULES.items():
        commands = argparse.ArgumentParser().add_subparsers()
        module = importlib.import_module(name)
        if name.endswith(".health"):
            module.add_commands(commands, None)
        else:
            module.add_commands(commands)
        assert set(commands.choices) <= set(module_words), name
    only = cli.build_parser("healthcheck")
    assert set(only._subparsers._group_actions[0].choices) == {"bootstrap", "healthcheck",
                                                               "demo"}
    site = cli.build_parser("site")._subparsers._group_actions[0].choices["site"]
    assert {"health", "pin"} <= set(site._subparsers._group_actions[0].choices), \
        "hc site has its health actions"


def test_a_health_check_imports_no_command_it_does_not_run(tmp_path):
    code = ("import sys; from appliance.cli import main; main(['healthcheck']); "
            "print(sorted(m for m in sys.modules if m.startswith('appliance.cli.') "
            "or m in ('pygal', 'cryptography', 'appliance.credentials', 'appliance.ci')))")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    done = subprocess.run([sys.executable, "-c", code], env=dict(environ, HC_DATA_DIR=str(
        tmp_path)), capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['appliance.cli.terminal']", done.stdout + done.stderr


def test_keep_retention_status_and_config_on_the_command_line(hc, monkeypatch):
    """hc keep pins a finished stress test against retention (--off unpins it); hc status
    and hc config show the disk budget, with a warning below HC_DISK_WARN_FREE."""
    import time

    _setup(hc)
    assert hc("test", "create", "t", "--site", "a")[0] == 0
    assert hc("test", "cancel", "1")[0] == 0
    Test.update(finished_at=time.time() - 400 * 86400).where(Test.id == 1).execute()
    due = "test log lines: {} of 1 tests"
    code, out, _ = hc("retention", "--dry-run")
    assert code == 0 and "nothing changed" in out and "of 1 tests" in out, out
    assert hc("keep", "1")[1].strip() == "test 1: kept"
    code, out, _ = hc("retention", "--dry-run")
    assert code == 0 and "of 1 tests" not in out, out
    assert hc("keep", "1", "--off")[1].strip() == "test 1: not kept"
    lines = TestLog.select().where(TestLog.test == 1).count()
    code, out, _ = hc("retention")
    assert code == 0 and due.format(lines) in out, out
    assert TestLog.select().where(TestLog.test == 1).count() == 0
    assert hc("keep", "99")[0] == 2
    monkeypatch.setenv("HC_DISK_WARN_FREE", "100")  # every volume is below 100 % free
    for command in ("status", "config"):
        code, out, _ = hc(command)
        assert code == 0 and "work volume:" in out and "WARNING:" in out, (command, out)
        assert "below HC_DISK_WARN_FREE=100%" in out


def test_times_are_bounded_on_the_command_line_and_any_stored_row_is_listed(hc):
    _setup(hc)
    for start in ("9999-12-31T00:00", "9999-12-31T23:59:59", "1970-01-01T00:00"):
        code, _, err = hc("test", "create", "t", "--start", start)
        assert code == 2 and "between 2000-01-01 and 2100-01-01" in err, (start, err)
    assert Test.select().count() == 0, "a refused time creates nothing"
    assert hc("test", "create", "t")[0] == 0
    Test.update(start_at=1e15, end_at=1e16).where(Test.id == 1).execute()
    for argv in (("test", "list"), ("test", "show", "1", "--log")):
        code, out, err = hc(*argv)
        assert code == 0 and "out of range" in out, (argv, out, err)


class _Answers:
    """Stands in for a throwaway instance's `exec`: replies in turn."""

    def __init__(self, *replies):
        self.replies, self.asked = list(replies), 0

    def exec(self, *argv):
        self.asked += 1
        return self.replies.pop(0)


def test_instance_up_asks_for_its_token_again_and_never_prints_an_empty_one():
    from appliance.cli.instance import admin_token
    from appliance.throwaway import InstanceError
    late = _Answers((1, "database is locked"), (0, "# token 1 for admin\nhc_abc\n"))
    assert admin_token(late, tries=3, pause=0) == "hc_abc" and late.asked == 2
    silent = _Answers(*[(0, "# no token here")] * 2)  # success without a token: not one
    with pytest.raises(InstanceError, match="no token here"):
        admin_token(silent, tries=2, pause=0)
    refused = _Answers(*[(2, "hc token: no user admin")] * 3)
    with pytest.raises(InstanceError, match=r"3 tries; `hc token add` exited 2\): hc token: "
                       "no user admin"):
        admin_token(refused, tries=3, pause=0)
