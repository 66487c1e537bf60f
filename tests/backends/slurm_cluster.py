"""A single-node Slurm cluster of our own: munged, slurmctld and slurmd started
from Debian's packages with a configuration in a temporary folder (SLURM_CONF)."""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time

from tests.backend_cases import Case
from tests.conftest import free_port, require

CONF = """ClusterName=hcci{ctld_port}
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
MailProg=/bin/true
MinJobAge=3600
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="hc-slurm-")
        self.conf = os.path.join(self.root, "slurm.conf")
        self.processes: list[subprocess.Popen] = []

    def start(self) -> SlurmCluster:
        for folder in ("state", "spool"):
            os.makedirs(os.path.join(self.root, folder))
        with open(self.conf, "w") as handle:
            handle.write(CONF.format(root=self.root, ctld_port=free_port(), d_port=free_port(),
                                     cpus=os.cpu_count() or 2))
        os.environ["SLURM_CONF"] = self.conf
        self._munge()
        self.processes.append(subprocess.Popen(["slurmctld", "-D", "-f", self.conf],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self.processes.append(subprocess.Popen(["slurmd", "-D", "-N", "localhost", "-f",
                                                self.conf], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.STDOUT))
        self._wait(lambda: "idle" in self._out(["sinfo", "-h", "-o", "%T"]), 30, "node idle")
        return self

    def _munge(self) -> None:
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return
        os.makedirs("/run/munge", exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        self.processes.append(subprocess.Popen(
            ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "munged", "-F"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0,
                   10, "munge")

    @staticmethod
    def _out(argv: list[str]) -> str:
        return subprocess.run(argv, capture_output=True, text=True).stdout

    @staticmethod
    def _wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise RuntimeError(f"Slurm test cluster: no {what} after {timeout} s")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        os.environ.pop("SLURM_CONF", None)
        shutil.rmtree(self.root, ignore_errors=True)


_cluster: SlurmCluster | None = None


def slurm_cluster() -> SlurmCluster:
    """The session's cluster, started on first use (stopped at exit by conftest)."""
    global _cluster
    if _cluster is None:
        if not all(shutil.which(c) for c in ("slurmctld", "slurmd", "sbatch", "munged")):
            require("SLURM", "Slurm is not installed (apt-get install slurm-wlm munge)")
        if os.geteuid() != 0:
            require("SLURM", "the test cluster runs its daemons as root")
        _cluster = SlurmCluster().start()
        atexit.register(stop_cluster)
    return _cluster


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


class SlurmCase(Case):
    name = "slurm"
    settings = {"poll_interval": 0.2, "partition": "debug"}

    def ensure(self) -> None:
        slurm_cluster()
