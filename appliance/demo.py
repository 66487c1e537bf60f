"""Demo data for a first look: local sites, a functional template that starts
producing tests at once (the server agent starts its test on its first rounds),
a stress template ready to launch, and the first steps to take. `scripts/dev`
and `docker compose up` load it (HC_DEMO=1, their default; HC_DEMO=0 leaves it
out). Loading twice changes nothing."""
from __future__ import annotations

from appliance.documents import check_site, save_template
from appliance.models import Site, Template

SITES = [
    ("demo-local-1", "local", {}, "demo"),
    ("demo-local-2", "local", {}, "demo"),
    ("demo-simulated", "fake", {"run_seconds": 3, "run_seconds_max": 20, "failure_rate": 0.1,
                                "queue_seconds": 2}, "simulated"),
]
PAYLOAD = ('echo "running on $(hostname) in $PWD"; sleep 3; '
           'printf \'{"sleep_s": 3}\\n\' > "$HC_METRICS_FILE"')
TEMPLATES = [
    {"name": "demo-functional", "category": "functional", "duration": "30m",
     "description": "one ping job per site at a time, a new test every 30 minutes",
     "sites": ["demo-local-1", "demo-local-2", "demo-simulated"],
     "load": {"max_running": 1}, "job": {"command": "echo ping; sleep 2", "timeout": "2m"}},
    {"name": "demo-stress", "category": "stress", "duration": "10m",
     "description": "three jobs at a time on every site, resubmitted as they end",
     "sites": ["demo-local-1", "demo-local-2", "demo-simulated"],
     "load": {"max_running": 3}, "job": {"command": PAYLOAD, "timeout": "5m"}},
]


def load() -> str:
    added = []
    for name, backend, settings, cloud in SITES:
        if Site.get_or_none(Site.name == name) is None:
            Site.create(**check_site(name, backend, settings, cloud))
            added.append(name)
    for document in TEMPLATES:
        if Template.get_or_none(Template.name == document["name"]) is None:
            save_template(dict(document))
            added.append(document["name"])
    return "added " + ", ".join(added) if added else "already loaded"


def enabled(environ) -> bool:
    """The demo is loaded only when asked for (HC_DEMO=1): a production start stays empty."""
    return environ.get("HC_DEMO") == "1"


def first_steps(admin: str | None) -> list[str]:
    """What a newcomer does first, printed at start-up (the README says the same)."""
    login = f"log in as {admin} (HC_ADMIN_PASSWORD)" if admin else "log in"
    return [f"demo: {login}; the front page lists the test of demo-functional under "
            "'Functional tests in progress' (click its id: jobs, plots, log)",
            "demo: then New stress test -> demo-stress -> Submit for approval (an admin may tick "
            "'approve at once'), and watch it run on the three demo sites"]
