"""Who ran a job: the wrapper's worker record, read back bounded, grouped on the test
page, and a node failing every job flagged."""
from __future__ import annotations

import socket

from appliance import lifecycle, workers
from appliance.backends.slurm import SlurmBackend, job_script
from appliance.models import Job
from appliance.states import TestState
from appliance.web import create_app
from tests.backend_cases import LocalCase, make_spec, wait_final
from tests.factories import make_site, make_template


def test_a_local_job_records_its_worker(tmp_path):
    case = LocalCase()
    backend = case.backend("ok")
    spec = make_spec(tmp_path, "true")
    wait_final(backend, {backend.submit(spec): spec.work_dir})
    record = workers.read(spec.work_dir)
    assert record["host"] == socket.gethostname()
    assert record["cores"] >= 1 and record["memory_kb"] > 0 and record["kernel"]


def test_a_slurm_job_script_records_its_worker_and_runtime(tmp_path):
    spec = make_spec(tmp_path, "true", image="example.org/img:1")
    plain = job_script(spec)
    assert workers.SNIPPET in plain and "runtime=" in plain
    settings = SlurmBackend.validate_settings({"container_runtime": "podman"})
    contained = job_script(spec, settings)
    assert workers.runtime_line("podman") in contained
    assert contained.index(workers.SNIPPET) < contained.index("podman run")


def test_what_a_payload_left_in_the_file_is_read_with_bounds(tmp_path):
    path = tmp_path / workers.WORKER_FILE
    path.write_text("host=" + "x" * 5000 + "\n")
    assert workers.read(str(tmp_path)) is None  # larger than MAX_BYTES
    path.write_text("host=n1\ncores=many\nmemory_kb=99999999999999999999\nevil=1\ncpu=\n")
    assert workers.read(str(tmp_path)) == {"host": "n1"}
    path.write_bytes(b"\xff\xfe")
    assert workers.read(str(tmp_path)) is None
    assert workers.read(str(tmp_path / "missing")) is None


def test_the_test_page_groups_by_node_and_flags_a_black_hole(db, settings):
    site = make_site("w")
    test = lifecycle.create_test(make_template("wt", sites=[site]), 1.8e9, 1.8e9 + 600,
                                 owner="t", state=TestState.RUNNING)
    for number, (host, state) in enumerate([("good", "completed")] * 4 + [("hole", "failed")] * 3):
        Job.insert(test=test.id, site=site.id, attempt=number + 1, state=state,
                   reason=None if state == "completed" else "exit code 1",
                   worker={"host": host, "cores": 8, "cpu": "Test CPU"}).execute()
    nodes = {n["host"]: n for n in workers.nodes(test.id)}
    assert nodes["hole"]["black_hole"] and not nodes["good"]["black_hole"]
    assert nodes["good"]["efficiency"] == 1.0 and nodes["good"]["cores"] == 8
    page = create_app(settings).test_client().get(f"/tests/{test.id}").data.decode()
    assert "worker node hole failed every one of its 3 jobs" in page
    assert 'id="workers"' in page and "Test CPU" in page
