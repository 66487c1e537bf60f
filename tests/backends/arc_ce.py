"""A throwaway NorduGrid ARC CE of our own: a test CA, host and user
certificates, A-REX and its HTTPS/REST front end on 127.0.0.1, over the `fork`
batch system or a Slurm test cluster. Everything lives in a temporary folder;
nothing under /etc or /var is touched (ARC_CONFIG points the start scripts at
our arc.conf).

Developers: `python -m tests.backends.arc_ce [fork|slurm]` starts one and
prints the settings of an `arc` site, Ctrl-C stops it.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.backend_cases import Case
from tests.conftest import free_port, require

PACKAGES = ("nordugrid-arc-arex nordugrid-arc-client nordugrid-arc-plugins-needed "
            "nordugrid-arc-arcctl-service nordugrid-arc-plugins-arcrest")
USER = "HC Test User"
USER_DN = f"/DC=org/DC=nordugrid/DC=ARC/O=TestCA/CN={USER}"
START_SCRIPTS = "/usr/share/arc"

ARC_CONF = """[common]
hostname = localhost
x509_host_key = {root}/grid/host-localhost-key.pem
x509_host_cert = {root}/grid/host-localhost-cert.pem
x509_cert_dir = {root}/grid/certificates

[authgroup:hctest]
subject = {dn}
{token_group}
[mapping]
map_to_user = hctest nobody:nogroup
{token_map}
[lrms]
{lrms}

[arex]
loglevel = 3
controldir = {root}/var/jobstatus
sessiondir = {root}/var/session
logfile = {root}/log/arex.log
joblog = {root}/log/arex-jobs.log
helperlog = {root}/log/job.helper.errors
pidfile = {root}/run/arched-arex.pid
tmpdir = {root}/tmp
wakeupperiod = 5
{arex_options}

[arex/ws]
wsurl = https://localhost:{port}/arex
logfile = {root}/log/ws-interface.log
pidfile = {root}/run/arched-arex-ws.pid

[arex/ws/jobs]
allowaccess = hctest{token_access}

[infosys]
logfile = {root}/log/infoprovider.log

[infosys/glue2]

[infosys/cluster]

[queue:{queue}]
"""
# Bearer tokens of one issuer are accepted too: A-REX checks their signature with
# the keys at the issuer's jwks_uri (appliance-side: tests/backends/token_issuer.py).
TOKEN_GROUP = """
[authgroup:hctoken]
authtokens = * {issuer} * * *

[authtokens]
"""
SLURM_LRMS = "lrms = slurm\nslurm_bin_path = /usr/bin\nslurm_wakeupperiod = 2\nslurm_use_sacct = no"


class ArcCE:
    """One CE. `endpoint`, `ca_dir`, `user_cert`, `user_key` once started."""

    def __init__(self, lrms: str = "fork", arex_options: str = "",
                 token_issuer: str | None = None):
        self.lrms = lrms
        self.token_issuer = token_issuer  # https URL whose tokens the CE accepts
        self.arex_options = arex_options  # more lines of arc.conf's [arex] block
        self.queue = "debug" if lrms == "slurm" else "fork"
        self.root = tempfile.mkdtemp(prefix="hc-arc-")
        os.chmod(self.root, 0o755)  # jobs run as nobody inside it
        self.port = free_port()
        self.endpoint = f"https://localhost:{self.port}/arex"
        grid = os.path.join(self.root, "grid")
        self.ca_dir = os.path.join(grid, "certificates")
        slug = USER.replace(" ", "-")
        self.user_cert = os.path.join(grid, "user", f"client-{slug}-cert.pem")
        self.user_key = os.path.join(grid, "user", f"client-{slug}-key.pem")
        self.proxy = os.path.join(grid, "user", "proxy.pem")
        self._arex_pid: int | None = None

    def start(self) -> ArcCE:
        started = time.monotonic()
        for folder in ("grid/certificates", "grid/user", "var/jobstatus", "var/session", "log",
                       "run", "tmp", "bin"):
            os.makedirs(os.path.join(self.root, folder))
        os.chmod(os.path.join(self.root, "tmp"), 0o1777)  # arc-config-check insists
        self._certificates()
        self._configure()
        env = {**os.environ, "ARC_CONFIG": os.path.join(self.root, "arc.conf")}
        for script in ("arc-arex-start", "arc-arex-ws-start"):
            self._run([os.path.join(self.root, "bin", script)], env=env)
        self._arex_pid = int(self._read("run/arched-arex.pid"))
        self._wait_for_rest(30)
        self.startup_seconds = time.monotonic() - started
        return self

    def _certificates(self) -> None:
        grid = os.path.join(self.root, "grid")
        ca = ["arcctl", "test-ca", "--ca-dir", self.ca_dir, "--ca-id", "hc"]
        self._run(ca + ["init", "-v", "30", "-f"], cwd=grid)
        self._run(ca + ["hostcert", "-n", "localhost", "-v", "30", "-f"], cwd=grid)
        self._run(ca + ["usercert", "-n", USER, "-v", "30", "--no-auth", "-f"],
                  cwd=os.path.join(grid, "user"))
        self.make_proxy(self.proxy, 12 * 3600)

    def make_proxy(self, path: str, seconds: int) -> str:
        """A proxy of the test user made by ARC's own arcproxy (independent of ours)."""
        self._run(["arcproxy", "-S", "", "-C", self.user_cert, "-K", self.user_key,
                   "-T", self.ca_dir, "-P", path, "-c", f"validityPeriod={seconds}"])
        return path

    def _configure(self) -> None:
        lrms = SLURM_LRMS if self.lrms == "slurm" else "lrms = fork"
        with open(os.path.join(self.root, "arc.conf"), "w") as handle:
            handle.write(ARC_CONF.format(root=self.root, dn=USER_DN, lrms=lrms, port=self.port,
                                         queue=self.queue, arex_options=self.arex_options,
                                         **self._token_lines()))
        self._run(["/usr/lib/arc/arc-config-check", "--config",
                   os.path.join(self.root, "arc.conf"), "--skip-warnings"])
        # The packaged front end listens on every interface: bind it to 127.0.0.1.
        self._patched("arc-arex-ws-start", "<tcp:Listen><tcp:Port>",
                      "<tcp:Listen><tcp:Interface>127.0.0.1</tcp:Interface><tcp:Port>")
        self._patched("arc-arex-start", "<arex:gmconfig>$ARC_RUNTIME_CONFIG</arex:gmconfig>",
                      "<arex:gmconfig>$ARC_RUNTIME_CONFIG</arex:gmconfig>"
                      "<arex:InfoproviderWakeupPeriod>10</arex:InfoproviderWakeupPeriod>")
        # Else the front end's start script spends minutes on a 4096-bit one.
        dhparam = os.path.join(self.root, "var/jobstatus/dhparam.pem")
        self._run(["openssl", "dhparam", "-dsaparam", "-out", dhparam, "2048"])
        os.chmod(dhparam, 0o600)

    def _token_lines(self) -> dict:
        if not self.token_issuer:
            return {"token_group": "", "token_map": "", "token_access": ""}
        return {"token_group": TOKEN_GROUP.format(issuer=self.token_issuer),
                "token_map": "map_to_user = hctoken nobody:nogroup\n",
                "token_access": " hctoken"}

    def _patched(self, script: str, old: str, new: str) -> None:
        with open(os.path.join(START_SCRIPTS, script)) as handle:
            text = handle.read()
        if old not in text:
            raise RuntimeError(f"{script}: cannot patch, {old!r} not found")
        target = os.path.join(self.root, "bin", script)
        with open(target, "w") as handle:
            handle.write(text.replace(old, new))
        os.chmod(target, 0o755)

    def _wait_for_rest(self, timeout: float) -> None:
        import requests
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                answer = session.get(self.endpoint + "/rest/1.0/info", cert=self.proxy,
                                     verify=self.ca_dir, timeout=5,
                                     headers={"Accept": "application/json"})
                if answer.status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"A-REX REST did not answer within {timeout} s; see {self.root}/log")

    def site_settings(self, **extra) -> dict:
        return {"endpoint": self.endpoint, "queue": self.queue, "ca_dir": self.ca_dir,
                "proxy_file": self.proxy, **extra}

    def stop(self) -> None:
        """Front end, then A-REX, then A-REX's process group (fork jobs live there)."""
        for name in ("arched-arex-ws.pid", "arched-arex.pid"):
            with contextlib.suppress(OSError, ValueError):
                _terminate(int(self._read(f"run/{name}")), 20)
        if self._arex_pid:
            with contextlib.suppress(OSError):
                os.killpg(self._arex_pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def _read(self, relative: str) -> str:
        with open(os.path.join(self.root, relative)) as handle:
            return handle.read().strip()

    def _run(self, argv: list[str], **options) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, **options)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {(done.stderr or done.stdout)[-500:]}")
        return done.stdout


def _terminate(pid: int, timeout: float) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


_ces: dict[str, ArcCE] = {}


def arc_ce(lrms: str = "fork") -> ArcCE:
    """The session's CE of that kind, started on first use (stopped at exit)."""
    if lrms not in _ces:
        missing = [c for c in ("arcctl", "arcproxy", "openssl") if not shutil.which(c)]
        if missing or not os.path.exists(os.path.join(START_SCRIPTS, "arc-arex-start")):
            require("ARC", f"NorduGrid ARC is not installed (apt-get install {PACKAGES})")
        if os.geteuid() != 0:
            require("ARC", "the test CE runs A-REX as root (it maps jobs to nobody)")
        if lrms == "slurm":
            from tests.backends.slurm_cluster import slurm_cluster
            cluster = slurm_cluster()  # sets SLURM_CONF, inherited by A-REX's batch scripts
            # A-REX runs sbatch as the mapped user (nobody): it must read slurm.conf.
            os.chmod(cluster.root, 0o711)
            os.chmod(cluster.conf, 0o644)
        _ces[lrms] = ArcCE(lrms).start()
        atexit.register(stop_ces)
    return _ces[lrms]


def arc_token_ce():
    """A fork CE that also accepts bearer tokens of our own issuer: (CE, issuer)."""
    if "token" not in _ces:
        from tests.backends.token_issuer import TokenIssuer
        arc_ce("fork")  # the same checks for the tools
        issuer = TokenIssuer().start()
        _ces["token"] = ArcCE("fork", token_issuer=issuer.url).start()
        _ces["token"].issuer = issuer
    return _ces["token"], _ces["token"].issuer


def stop_ces() -> None:
    while _ces:
        _ces.popitem()[1].stop()


class ArcCase(Case):
    name = "arc"
    final_timeout = 90.0

    def ensure(self) -> None:
        self.ce = arc_ce("fork")

    def settings_for(self, kind: str) -> dict:
        return self.ce.site_settings(poll_interval=0.5)


if __name__ == "__main__":
    ce = arc_ce(sys.argv[1] if len(sys.argv) > 1 else "fork")  # stopped at exit
    print(f"A-REX up in {ce.startup_seconds:.1f} s; files in {ce.root}")
    print(json.dumps(ce.site_settings(), indent=2))
    if os.environ.get("SLURM_CONF"):
        print(f"SLURM_CONF={os.environ['SLURM_CONF']}")
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
