"""Where `hc run` runs its test: a throwaway instance in local processes (through
its database) or in a container (through `hc` inside it). Both offer the same
small set of operations."""
from __future__ import annotations

import json
import re

from appliance import creation, lifecycle
from appliance.ci import results
from appliance.ci.local_instance import LocalInstance
from appliance.documents import SpecError, check_site, save_template
from appliance.models import Site, Test
from appliance.reports import summary
from appliance.throwaway import ThrowawayInstance

ACTOR = "hc-run"


class InfrastructureError(RuntimeError):
    """The instance could not run the test; exit code 2."""


class LocalSource:
    """A throwaway instance in local processes; talks to its database directly."""

    def __init__(self, keep: bool = False):
        self.instance = LocalInstance(keep=keep)

    def __enter__(self) -> LocalSource:
        self.instance.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.instance.__exit__(*exc)

    def describe(self) -> str:
        return f"a throwaway instance in local processes ({self.instance.root})"

    def define_site(self, site: dict) -> None:
        Site.create(**check_site(site["name"], site["backend"], site.get("settings", {}),
                                 site.get("cloud", "")))

    def add_template(self, document: dict) -> str:
        return save_template(document).name

    def create_test(self, template_name: str, sites: list[str] | None) -> tuple[int, list[str]]:
        if sites:
            missing = set(sites) - {s.name for s in Site.select().where(Site.name.in_(sites))}
            if missing:
                raise SpecError(f"--site {min(missing)}: not a site of this run")
        request = {"template": template_name, "sites": sites or None,
                   "send_for_approval": False}
        test = creation.create(creation.parse_test_request(request, admin=True), owner=ACTOR)
        return test.id, [ts.site.name for ts in test.test_sites]

    def approve(self, test_id: int) -> None:
        lifecycle.send_for_approval(test_id, ACTOR)
        lifecycle.approve(test_id, ACTOR)

    def progress(self, test_id: int) -> tuple[str, dict]:
        if not self.instance.agents_alive():
            raise InfrastructureError("the instance's agents stopped; see "
                                      f"{self.instance.root}/agents.log (use --keep)")
        total = summary.empty_counts()
        for counts in summary.counts_by_site(test_id).values():
            for key, value in counts.items():
                total[key] += value
        return Test.get_by_id(test_id).state, total

    def result(self, test_id: int) -> results.RunResult:
        summary.refresh(test_id, final=True)
        return results.from_database(test_id)

    def cancel(self, test_id: int, reason: str) -> None:
        lifecycle.cancel(test_id, ACTOR, reason)


class ContainerSource:
    """A throwaway container instance of the appliance image; talks to it through
    `hc` commands run inside it."""

    def __init__(self, image: str, keep: bool = False, docker_sites: bool = False):
        self.instance = ThrowawayInstance(image, docker_socket=docker_sites)
        self.keep = keep

    def __enter__(self) -> ContainerSource:
        try:
            self.instance.up()
        except Exception as error:  # any failure to start is the infrastructure's
            raise InfrastructureError(str(error)) from error
        return self

    def __exit__(self, *exc) -> None:
        if not self.keep:
            self.instance.down()

    def describe(self) -> str:
        return (f"a throwaway container instance {self.instance.name} ({self.instance.url}, "
                f"healthy after {self.instance.seconds_to_healthy:.1f} s)")

    def _hc(self, *argv: str, stdin: str | None = None) -> str:
        code, output = self.instance.exec("hc", *argv, stdin=stdin)
        if code == 2:
            raise SpecError(output.strip().removeprefix("hc: error: "))
        if code != 0:
            raise InfrastructureError(f"hc {argv[0]} in the instance failed: {output.strip()}")
        return output

    def define_site(self, site: dict) -> None:
        argv = ["site", "add", site["name"], "--backend", site["backend"]]
        settings = dict(site.get("settings", {}))
        if site["backend"] == "docker":
            # Job folders live on the instance's volume: sibling containers mount it.
            settings.setdefault("work_volume", self.instance.name)
        for key, value in settings.items():
            argv += ["--set", f"{key}={json.dumps(value)}"]
        if site.get("cloud"):
            argv += ["--cloud", site["cloud"]]
        self._hc(*argv)

    def add_template(self, document: dict) -> str:
        self._hc("template", "add", "-", stdin=json.dumps(document))
        return document["name"]

    def create_test(self, template_name: str, sites: list[str] | None) -> tuple[int, list[str]]:
        argv = ["test", "create", template_name]
        for site in sites or []:
            argv += ["--site", site]
        created = re.search(r"test (\d+) created", self._hc(*argv))
        if not created:
            raise InfrastructureError("the instance did not say which test it created")
        test_id = int(created.group(1))
        return test_id, self.result(test_id).sites

    def approve(self, test_id: int) -> None:
        self._hc("test", "send-for-approval", str(test_id))
        self._hc("test", "approve", str(test_id))

    def progress(self, test_id: int) -> tuple[str, dict]:
        result = self.result(test_id)
        counts = {f"jobs_{state}": number for state, number in result.counts().items()}
        return result.state, counts

    def result(self, test_id: int) -> results.RunResult:
        return results.from_dict(json.loads(self._hc("test", "export", str(test_id))))

    def cancel(self, test_id: int, reason: str) -> None:
        self._hc("test", "cancel", str(test_id))
