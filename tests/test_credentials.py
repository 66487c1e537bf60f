"""Credentials with a fixed clock: proxies made and renewed on time, tokens read
from their claims, and an expiring credential stopping submission once."""
from __future__ import annotations

import contextlib
import os
import stat
import time

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import credentials, gridcert, sitecheck, tokens
from appliance.agents.server import ServerAgent
from appliance.agents.submit import SubmitAgent
from appliance.models import Credential, CredentialEvent, Job, Site, TestLog
from appliance.states import JobState
from tests.factories import make_running_test, make_site, make_template
from tests.gridca import jwt, user_certificate

T0 = float(int(time.time()))


@pytest.fixture
def root(settings):
    return settings.secrets_dir


@pytest.fixture
def robot(db, root):
    cert, key = user_certificate(T0)
    credentials.add_x509("robot", cert, key, T0, "tester", root, proxy_lifetime=100,
                         renew_fraction=0.5, warn_before=3600, refuse_before=5)
    return cert, key


def _proxy(root, name="robot") -> gridcert.Identity:
    with open(os.path.join(root, name, credentials.PROXY_FILE), "rb") as handle:
        return gridcert.load_identity(handle.read())


def test_a_proxy_is_an_rfc3820_proxy_of_the_certificate(robot, root):
    proxy = _proxy(root)
    user = x509.load_pem_x509_certificate(robot[0])
    assert proxy.certificate.issuer == user.subject
    assert proxy.chain[1] == user
    info = proxy.certificate.extensions.get_extension_for_oid(gridcert.PROXY_CERT_INFO_OID)
    assert info.critical and info.value.value == gridcert.INHERIT_ALL
    assert gridcert.not_after(proxy.certificate) == T0 + 100
    row = credentials.get("robot")
    assert row.subject == "/DC=org/O=HC Test/CN=HC Robot" and row.usable_until == T0 + 100


def test_key_material_is_in_0600_files_in_0700_folders(robot, root):
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(root, "robot")).st_mode) == 0o700
    for name in ("cert.pem", "key.pem", "proxy.pem"):
        assert stat.S_IMODE(os.stat(os.path.join(root, "robot", name)).st_mode) == 0o600


def test_a_proxy_is_renewed_once_its_share_of_lifetime_is_used(robot, root):
    assert credentials.renew_due(T0 + 49, "server", root) == []
    assert credentials.renew_due(T0 + 51, "server", root) == ["robot"]
    assert gridcert.not_after(_proxy(root).certificate) == T0 + 151
    assert credentials.renew_due(T0 + 52, "server", root) == [], "renewed: not due again"
    kinds = [e.kind for e in CredentialEvent.select().order_by(CredentialEvent.id)]
    assert kinds == ["added", "renewed", "renewed"]
    assert credentials.get("robot").renewals == 2


def test_the_server_agent_renews_proxies(robot, settings):
    agent = ServerAgent(settings)
    agent.keep_credentials(T0 + 60)
    assert credentials.get("robot").renewed_at == T0 + 60


def test_a_proxy_never_outlives_its_certificate(db, root):
    cert, key = user_certificate(T0, days=0.001)  # about 150 s
    row = credentials.add_x509("short", cert, key, T0, "tester", root, proxy_lifetime=3600)
    assert row.usable_until == row.expires_at < T0 + 3600
    assert credentials.health(row, T0).level == "warning", "the certificate ends within 7 days"


def test_bad_certificates_and_names_are_refused_and_change_nothing(db, root):
    cert, key = user_certificate(T0)
    other_cert, _ = user_certificate(T0)
    for name, c, k, message in (("ok", b"junk", key, "no PEM certificate"),
                                ("ok", other_cert, key, "does not belong"),
                                ("../x", cert, key, "name"),
                                ("ok", *user_certificate(T0 - 90 * 86400, days=1), "expired")):
        with pytest.raises(credentials.CredentialError, match=message):
            credentials.add_x509(name, c, k, T0, "tester", root)
    assert Credential.select().count() == 0 and not os.path.exists(os.path.join(root, "ok"))


def test_a_tokens_expiry_subject_and_issuer_come_from_its_claims(db, root):
    token = jwt({"iss": "https://iam.example", "sub": "hc-robot", "exp": T0 + 1200,
                 "iat": T0, "scope": "compute.create"})
    row = credentials.add_token("iam", token, T0, "tester", root, warn_before=3600)
    assert (row.kind, row.subject, row.issuer) == ("token", "hc-robot", "https://iam.example")
    assert row.expires_at == row.usable_until == T0 + 1200
    assert credentials.health(row, T0).level == "warning"
    assert credentials.health(row, T0 + 1199).level == "expired"
    with pytest.raises(credentials.CredentialError, match="renew it by giving the new token"):
        credentials.renew("iam", T0, "tester", root)
    credentials.renew("iam", T0, "tester", root, jwt({"sub": "hc-robot", "exp": T0 + 9000}))
    assert credentials.get("iam").usable_until == T0 + 9000


@pytest.mark.parametrize("token, message", [
    ("abc", "three dot-separated parts"), (jwt({"sub": "x"}), "no expiry"),
    ("a.!!!.c", "base64url"), (jwt({"exp": "tomorrow"}), "no expiry")])
def test_unusable_tokens_are_refused(token, message):
    with pytest.raises(tokens.TokenError, match=message):
        tokens.read_claims(token)


@settings(max_examples=50)
@given(st.text(max_size=300))
def test_reading_any_text_as_a_token_gives_claims_or_a_token_error(text):
    try:
        claims = tokens.read_claims(text)
    except tokens.TokenError:
        return
    assert claims.expires_at >= 0


@settings(max_examples=50)
@given(st.binary(max_size=400))
def test_reading_any_bytes_as_a_delegation_request_gives_a_key_or_a_certificate_error(data):
    pem = b"-----BEGIN CERTIFICATE REQUEST-----\n" + data + b"\n-----END"
    with contextlib.suppress(gridcert.CertificateError):
        gridcert._csr_public_key(pem)


# -- an expiring proxy stops submission, once; a renewed one resumes it --------------

def _submitted(test) -> int:
    return Job.select().where(Job.test == test.id).count()


def test_a_20_second_proxy_expiring_fails_the_site_check_and_stops_submission(db, settings,
                                                                              root):
    cert, key = user_certificate(T0)
    credentials.add_x509("robot", cert, key, T0, "tester", root, proxy_lifetime=20,
                         refuse_before=5)
    site = make_site(backend="fake", credential="robot", run_seconds=0)
    test = make_running_test(make_template(sites=[site], load={"max_running": 2}),
                             settings.hostname, T0)
    agent = SubmitAgent(settings.replace(poll_interval=1.0))
    agent.loop_once(T0)
    assert _submitted(test) == 2
    assert sitecheck.check(site, now=T0 + 1)[0]

    for moment in (T0 + 16, T0 + 18, T0 + 25, T0 + 40):  # 4 s left, then expired
        agent.loop_once(moment)
    ok, message = sitecheck.check(Site.get_by_id(site.id), now=T0 + 25)
    assert not ok and "credential robot: proxy expired or about to" in message
    assert _submitted(test) == 2, "no job is sent with a proxy too close to its end"
    assert not Job.select().where(Job.state == JobState.FAILED.value).exists()
    notes = [log.message for log in TestLog.select().where(TestLog.test == test.id)
             if "no jobs sent" in log.message]
    assert len(notes) == 1, notes
    assert "proxy expired or about to (valid until" in notes[0]

    credentials.renew("robot", T0 + 41, "tester", root)
    assert sitecheck.check(Site.get_by_id(site.id), now=T0 + 42)[0]
    agent.loop_once(T0 + 42)
    assert _submitted(test) == 4, "a renewed proxy lets submission resume"


def test_tests_using_an_ending_credential_get_one_warning(robot, settings):
    site = make_site(backend="fake", credential="robot", run_seconds=60)
    test = make_running_test(make_template(sites=[site]), settings.hostname, T0)
    noted: set = set()
    expires = credentials.get("robot").expires_at
    assert credentials.warn_tests(T0, noted) == 0
    credentials.renew("robot", expires - 650, "tester", settings.secrets_dir)
    assert credentials.warn_tests(expires - 600, noted) == 1
    assert credentials.warn_tests(expires - 590, noted) == 0, "said once"
    line = TestLog.select().where(TestLog.test == test.id,
                                  TestLog.severity == "warning").get()
    assert "certificate expires" in line.message


# -- where a credential goes, and where its secrets never go -------------------------

ONE_JOB = {"max_running": 1, "job_cap": 1}


def _wait_ended(agent, test, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        agent.loop_once(time.time())
        jobs = list(Job.select().where(Job.test == test.id))
        if jobs and all(j.state not in ("pending", "submitted", "queued", "running")
                        for j in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError("jobs did not end")


def _environment_seen(job) -> str:
    with open(os.path.join(job.work_dir, "seen-environment")) as handle:
        return handle.read()


def test_a_payload_gets_the_proxy_only_when_its_template_asks(db, settings, root):
    cert, key = user_certificate(time.time())
    credentials.add_x509("robot", cert, key, time.time(), "tester", root)
    site = make_site(backend="local", credential="robot")
    agent = SubmitAgent(settings.replace(poll_interval=0.1))
    asking = make_template(sites=[site], load=ONE_JOB, job={
        "command": "env > seen-environment", "environment": {"X509_USER_PROXY": "@credential"}})
    plain = make_template(sites=[site], command="env > seen-environment", load=ONE_JOB)
    for template, wanted in ((asking, True), (plain, False)):
        test = make_running_test(template, settings.hostname, time.time())
        (job,) = _wait_ended(agent, test)
        seen = _environment_seen(job)
        proxy = os.path.join(root, "robot", credentials.PROXY_FILE)
        assert (f"X509_USER_PROXY={proxy}" in seen) is wanted
        assert "BEGIN" not in seen


def _secrets(root) -> list[str]:
    """Lines that only key material contains: the base64 bodies of keys and proxies."""
    found = []
    for name in os.listdir(root):
        for file in (credentials.KEY_FILE, credentials.PROXY_FILE, credentials.TOKEN_FILE):
            path = os.path.join(root, name, file)
            if os.path.exists(path):
                with open(path) as handle:
                    text = handle.read()
                if file == credentials.TOKEN_FILE:
                    found.append(text.strip().rsplit(".", 1)[0])
                    continue
                key = text[text.index("PRIVATE KEY-----"):text.index("-----END")]
                found += [line for line in key.splitlines()[1:] if len(line) > 40]
    return found


def test_no_secret_in_pages_api_logs_database_or_work_area(db, settings, root, caplog):
    from appliance import accounts
    from appliance.web import create_app
    caplog.set_level("DEBUG")
    cert, key = user_certificate(time.time())
    credentials.add_x509("robot", cert, key, time.time(), "tester", root)
    credentials.add_token("iam", jwt({"sub": "robot", "iss": "https://iam.example",
                                      "exp": time.time() + 3600}), time.time(), "t", root)
    site = make_site("grid", backend="local", credential="robot")
    template = make_template(sites=[site], load=ONE_JOB, job={
        "command": "env > seen-environment; cat $X509_USER_PROXY > /dev/null",
        "environment": {"X509_USER_PROXY": "@credential"}})
    test = make_running_test(template, settings.hostname, time.time())
    _wait_ended(SubmitAgent(settings.replace(poll_interval=0.1)), test)
    credentials.renew("robot", time.time(), "tester", root)
    from tests.web.conftest import PASSWORD, Browser
    accounts.add_user("root", PASSWORD, "admin")
    client = Browser(create_app(settings).test_client())
    client.login("root")
    texts = [client.client.get(url).get_data(as_text=True) for url in (
        "/", "/admin/credentials", "/sites/grid", f"/tests/{test.id}", "/metrics",
        "/api/v1/sites/grid", f"/api/v1/tests/{test.id}/log", f"/api/v1/tests/{test.id}/jobs",
        f"/api/v1/tests/{test.id}/export")]
    assert "HC Robot" in texts[1] and "hc_credential_seconds_left" in texts[4]
    texts += [record.getMessage() for record in caplog.records]
    for model in (Credential, CredentialEvent, TestLog, Job, Site):
        texts += [str(row) for row in model.select().dicts()]
    for folder, _, files in os.walk(settings.work_dir):
        for file in files:
            with open(os.path.join(folder, file), errors="replace") as handle:
                texts.append(handle.read())
    secrets = _secrets(root)
    assert len(secrets) > 20
    everything = "\n".join(texts)
    assert not [s for s in secrets if s in everything]
