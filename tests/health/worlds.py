"""A small world of sites, functional templates and finished jobs, written
straight into a migrated database, for the site-health tests."""
from __future__ import annotations

from appliance import rollups
from appliance.lifecycle import create_test
from appliance.models import Job, JobTemplate, Site, Template, TemplateSite, Test
from appliance.states import Category, JobState, TestState

NOW = 1_800_000_000.0


class World:
    def __init__(self):
        self.tests: dict[str, Test] = {}

    def site(self, name: str, status: str = "online", backend: str = "fake", **settings) -> Site:
        return Site.create(name=name, backend=backend, backend_settings=settings, status=status)

    def template(self, name: str, sites: list[Site], category=Category.FUNCTIONAL) -> Template:
        job = JobTemplate.create(name=name, command="true")
        template = Template.create(name=name, category=category.value, job_template=job)
        TemplateSite.insert_many([dict(template=template, site=s) for s in sites]).execute()
        return template

    def job(self, site: Site, template: Template, outcome: str, ended_at: float,
            reason: str = "boom", exit_code: int = 1) -> Job:
        """outcome: C (completed), F (failed), K (killed)."""
        test = self.tests.get(template.name)
        if test is None:
            test = create_test(template, NOW - 10 * 86400, NOW + 86400, owner="server",
                               state=TestState.RUNNING)
            self.tests[template.name] = test
        state = {"C": JobState.COMPLETED, "F": JobState.FAILED, "K": JobState.KILLED}[outcome]
        failed = outcome == "F"
        job = Job.create(test=test, site=site, attempt=1, state=state.value,
                         created_at=ended_at - 60, ended_at=ended_at,
                         exit_code=exit_code if failed else 0,
                         reason=reason if failed else None)
        rollups.add_finished([job.id])  # as the agents do when a job ends
        return job

    def history(self, site: Site, templates: list[Template], outcomes: str, newest: float,
                spacing: float = 600, **failure) -> list[Job]:
        """The same outcomes (newest first) in every template."""
        made = []
        for template in templates:
            for i, outcome in enumerate(outcomes):
                made.append(self.job(site, template, outcome, newest - i * spacing, **failure))
        return made

    def timeline(self, site: Site, templates: list[Template], start: float, end: float,
                 spacing: float = 600, failing: tuple = (), **failure) -> None:
        """A job every `spacing` seconds in each template; those ending inside a
        (from, to) span of `failing` fail."""
        moment = start
        while moment <= end:
            bad = any(low <= moment < high for low, high in failing)
            for template in templates:
                self.job(site, template, "F" if bad else "C", moment, **failure)
            moment += spacing
