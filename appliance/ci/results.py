"""What a finished (or running) test produced, in the shape thresholds and reports use."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from appliance.ci.thresholds import JobRecord
from appliance.models import Job, Site, Template, Test, TestLog, TestSite
from appliance.states import JobState

STATE_ORDER = tuple(JobState)


@dataclass
class RunResult:
    test_id: int
    state: str
    state_reason: str
    template: str
    start_at: float
    end_at: float
    sites: list[str]
    jobs: list[JobRecord] = field(default_factory=list)
    log: list[tuple[float, str, str]] = field(default_factory=list)
    ended_times: list[tuple[float, str, str]] = field(default_factory=list)  # (t, site, state)
    image: str | None = None  # the test's payload image (a registry image by digest)
    images_run: list[str] = field(default_factory=list)  # what the jobs' backends ran

    def counts(self, site: str | None = None) -> dict[str, int]:
        counts = dict.fromkeys(STATE_ORDER, 0)
        for job in self.jobs:
            if site is None or job.site == site:
                counts[job.state] = counts.get(job.state, 0) + 1
        return counts

    def efficiency(self, site: str | None = None) -> float | None:
        counts = self.counts(site)
        ended = counts["completed"] + counts["failed"]
        return counts["completed"] / ended if ended else None


def from_database(test_id: int) -> RunResult:
    test = Test.select(Test, Template).join(Template).where(Test.id == test_id).get()
    sites = [name for (name,) in TestSite.select(Site.name).join(Site)
             .where(TestSite.test == test_id).order_by(Site.name).tuples()]
    rows = (Job.select(Site.name, Job.state, Job.wall_seconds, Job.cpu_seconds,
                       Job.submitted_at, Job.started_at, Job.ended_at, Job.metrics)
            .join(Site).where(Job.test == test_id).order_by(Job.id).tuples())
    result = RunResult(test.id, test.state, test.state_reason, test.template.name, test.start_at,
                       test.end_at, sites, image=test.image)
    result.images_run = [digest for (digest,) in Job.select(Job.image_digest).distinct()
                         .where(Job.test == test_id, Job.image_digest.is_null(False))
                         .order_by(Job.image_digest).tuples()]
    for site, state, wall, cpu, submitted, started, ended, metrics in rows:
        queue = started - submitted if started and submitted else None
        result.jobs.append(JobRecord(site, state, wall, cpu, queue, metrics or {}))
        if ended:
            result.ended_times.append((ended, site, state))
    result.log = [(line.at, line.severity, line.message) for line in
                  TestLog.select().where(TestLog.test == test_id).order_by(TestLog.id)]
    return result


def to_dict(result: RunResult) -> dict:
    return asdict(result)


def from_dict(data: dict) -> RunResult:
    """The inverse of to_dict (what `hc test export` prints)."""
    values = dict(data)
    values["jobs"] = [JobRecord(**job) for job in data["jobs"]]
    values["log"] = [tuple(line) for line in data["log"]]
    values["ended_times"] = [tuple(row) for row in data["ended_times"]]
    return RunResult(**values)
