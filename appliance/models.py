"""The data model. Times are UNIX seconds (float, UTC) so that SQLite and
PostgreSQL aggregate them the same way.

The schema itself is created by the migrations in appliance/migrations/; a test
checks that these models and the migrated schema agree.
"""
from __future__ import annotations

import json
import time

import peewee as pw

from appliance.db import database
from appliance.states import Category, JobState, Role, SiteStatus, TestState


class JSONField(pw.TextField):
    """JSON in a text column: portable across SQLite and PostgreSQL."""

    def db_value(self, value):
        # allow_nan=False: NaN and Infinity are not JSON and break the database's JSON
        # functions (appliance/payload.py keeps them out; this is the last guard).
        return None if value is None else json.dumps(value, sort_keys=True, allow_nan=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    name = pw.CharField(unique=True, max_length=64)
    role = pw.CharField(max_length=16, default=Role.USER.value)
    password_hash = pw.CharField(max_length=256)
    created_at = pw.DoubleField(default=time.time)


class Site(BaseModel):
    name = pw.CharField(unique=True, max_length=128)
    backend = pw.CharField(max_length=32)
    backend_settings = JSONField(default=dict)
    cloud = pw.CharField(max_length=64, default="")
    tags = JSONField(default=list)
    status = pw.CharField(max_length=16, default=SiteStatus.ONLINE.value)
    status_reason = pw.TextField(default="")
    status_changed_at = pw.DoubleField(default=time.time)
    created_at = pw.DoubleField(default=time.time)
    # Site health (appliance/health): automation may change the status unless the
    # site opted out or an operator pinned it.
    health_automation = pw.BooleanField(default=True)
    automation_reason = pw.TextField(default="")
    pinned = pw.BooleanField(default=False)
    pin_reason = pw.TextField(default="")
    pinned_by = pw.CharField(max_length=128, default="")
    pinned_at = pw.DoubleField(null=True)
    # The last check that the backend is reachable and usable (None: never checked).
    check_ok = pw.BooleanField(null=True)
    check_message = pw.TextField(default="")
    checked_at = pw.DoubleField(null=True)


class JobTemplate(BaseModel):
    """The payload: a command, or a container image and a command."""
    name = pw.CharField(unique=True, max_length=128)
    command = pw.TextField()
    image = pw.CharField(max_length=512, null=True)
    environment = JSONField(default=dict)
    timeout = pw.IntegerField(default=3600)  # seconds
    metrics_file = pw.CharField(max_length=256, default="metrics.json")
    description = pw.TextField(default="")
    network = pw.BooleanField(default=False)  # the payload asks for a network


class Template(BaseModel):
    name = pw.CharField(unique=True, max_length=128)
    category = pw.CharField(max_length=16, default=Category.STRESS.value)
    golden = pw.BooleanField(default=False)
    description = pw.TextField(default="")
    job_template = pw.ForeignKeyField(JobTemplate, backref="templates")
    max_running = pw.IntegerField(default=1)
    min_queue_depth = pw.IntegerField(default=0)
    resubmit = pw.BooleanField(default=True)
    job_cap = pw.IntegerField(null=True)  # jobs per site; None: no cap
    duration = pw.IntegerField(default=3600)  # seconds; for functional tests, the period
    active = pw.BooleanField(default=True)
    created_at = pw.DoubleField(default=time.time)
    modified_at = pw.DoubleField(default=time.time)


class TemplateSite(BaseModel):
    template = pw.ForeignKeyField(Template, backref="template_sites", on_delete="CASCADE")
    site = pw.ForeignKeyField(Site, backref="template_sites")

    class Meta:
        indexes = ((("template", "site"), True),)


class SummaryMixin(BaseModel):
    """Counts kept by the agents; efficiency = completed / (completed + failed)."""
    jobs_total = pw.IntegerField(default=0)
    jobs_pending = pw.IntegerField(default=0)
    jobs_queued = pw.IntegerField(default=0)
    jobs_running = pw.IntegerField(default=0)
    jobs_completed = pw.IntegerField(default=0)
    jobs_failed = pw.IntegerField(default=0)
    jobs_killed = pw.IntegerField(default=0)
    jobs_lost = pw.IntegerField(default=0)
    efficiency = pw.DoubleField(null=True)
    wall_p50 = pw.DoubleField(null=True)
    wall_p90 = pw.DoubleField(null=True)
    wall_p95 = pw.DoubleField(null=True)
    summarized_at = pw.DoubleField(null=True)


class Test(SummaryMixin):
    """A copy of its template's settings taken at creation, so later template
    edits never change a test."""
    template = pw.ForeignKeyField(Template, backref="tests")
    category = pw.CharField(max_length=16)
    golden = pw.BooleanField(default=False)
    description = pw.TextField(default="")
    command = pw.TextField()
    image = pw.CharField(max_length=512, null=True)
    environment = JSONField(default=dict)
    timeout = pw.IntegerField()
    metrics_file = pw.CharField(max_length=256)
    network = pw.BooleanField(default=False)
    start_at = pw.DoubleField()
    end_at = pw.DoubleField()
    state = pw.CharField(max_length=16, default=TestState.DRAFT.value, index=True)
    state_reason = pw.TextField(default="")
    submit_host = pw.CharField(max_length=128, null=True, index=True)
    # Raised by the server each time it gives the test to a host (appliance/agents/lease.py):
    # a submit agent's writes for the test hold only while the number it read stands.
    lease = pw.IntegerField(default=0)
    owner = pw.CharField(max_length=64, default="system")
    cloned_from = pw.ForeignKeyField("self", null=True, backref="clones")
    created_at = pw.DoubleField(default=time.time)
    plot_data = JSONField(null=True)  # appliance/reports/plotdata.py: kept with the summary
    plots_at = pw.DoubleField(null=True)
    # Data lifecycle (appliance/retention.py): when the test reached its final state,
    # whether retention must leave it alone, and what retention already did to it.
    finished_at = pw.DoubleField(null=True)
    keep = pw.BooleanField(default=False)
    jobs_removed_at = pw.DoubleField(null=True)
    logs_removed_at = pw.DoubleField(null=True)
    archived_at = pw.DoubleField(null=True)  # work area packed into one archive
    archive_removed_at = pw.DoubleField(null=True)

    __test__ = False


class TestSite(SummaryMixin):
    """A site in a test, with its load knobs (editable while the test runs)."""
    test = pw.ForeignKeyField(Test, backref="test_sites", on_delete="CASCADE")
    site = pw.ForeignKeyField(Site, backref="test_sites")
    max_running = pw.IntegerField()
    min_queue_depth = pw.IntegerField()
    resubmit = pw.BooleanField()
    job_cap = pw.IntegerField(null=True)
    jobs_created = pw.IntegerField(default=0)  # attempts so far; the next job's attempt is +1

    __test__ = False

    class Meta:
        indexes = ((("test", "site"), True),)


class Job(BaseModel):
    # Indexed with the id (Meta): a test's jobs in id order, its first and last id.
    test = pw.ForeignKeyField(Test, backref="jobs", on_delete="CASCADE", index=False)
    site = pw.ForeignKeyField(Site, backref="jobs")
    attempt = pw.IntegerField()
    state = pw.CharField(max_length=16, default=JobState.PENDING.value)
    backend_id = pw.CharField(max_length=256, null=True)
    submit_host = pw.CharField(max_length=128, null=True)
    created_at = pw.DoubleField(default=time.time)
    submitted_at = pw.DoubleField(null=True)
    started_at = pw.DoubleField(null=True)
    ended_at = pw.DoubleField(null=True)
    exit_code = pw.IntegerField(null=True)
    reason = pw.TextField(null=True)
    wall_seconds = pw.DoubleField(null=True)
    cpu_seconds = pw.DoubleField(null=True)
    metrics = JSONField(null=True)
    work_dir = pw.CharField(max_length=1024, null=True)
    image_digest = pw.CharField(max_length=256, null=True)  # the image that ran (Docker)
    worker = JSONField(null=True)  # the worker node as the job wrapper saw it (workers.py)

    class Meta:
        indexes = (
            # Covers the test page's aggregates (counts, wall times, efficiency).
            (("test", "state", "site", "ended_at", "wall_seconds"), False),
            # A test's jobs by id (appliance/reports/jobscan.py reads them in id blocks).
            (("test", "id"), False),
            (("site", "ended_at"), False),
            (("state",), False),
            (("ended_at",), False),  # site health reads a look-back window over all sites
        )


class TestLog(BaseModel):
    test = pw.ForeignKeyField(Test, backref="logs", on_delete="CASCADE")
    at = pw.DoubleField(default=time.time)
    severity = pw.CharField(max_length=16)
    message = pw.TextField()
    actor = pw.CharField(max_length=128, default="system")

    __test__ = False


class Agent(BaseModel):
    """One row per agent process identity (role, host): alive while its
    heartbeat is recent."""
    role = pw.CharField(max_length=16)
    host = pw.CharField(max_length=128)
    pid = pw.IntegerField()
    version = pw.CharField(max_length=32, default="")
    started_at = pw.DoubleField()
    heartbeat_at = pw.DoubleField()
    load = pw.IntegerField(default=0)  # active jobs for submit agents
    stopped_at = pw.DoubleField(null=True)
    problem = pw.TextField(null=True)  # what keeps it from all of its work (a full disk)

    class Meta:
        indexes = ((("role", "host"), True),)


class PolicyVersion(BaseModel):
    """Every site-health policy ever loaded; the newest one is in force."""
    source = pw.TextField()  # the YAML document as given
    name = pw.CharField(max_length=128, default="")
    loaded_at = pw.DoubleField(default=time.time)
    loaded_by = pw.CharField(max_length=128, default="system")


class SiteEvent(BaseModel):
    """A change of a site's status or of its automation settings, with why."""
    site = pw.ForeignKeyField(Site, backref="events", on_delete="CASCADE")
    at = pw.DoubleField()
    kind = pw.CharField(max_length=16)  # status, pin, unpin, opt-out, opt-in, credential
    old_status = pw.CharField(max_length=16)
    new_status = pw.CharField(max_length=16)
    rule = pw.CharField(max_length=128, default="")
    evidence = JSONField(default=list)
    reason = pw.TextField(default="")
    actor = pw.CharField(max_length=128)
    automatic = pw.BooleanField(default=False)
    policy_version = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("site", "at"), False), (("at",), False))


class HealthEvaluation(BaseModel):
    """One run of the policy: when, which version, what it found."""
    at = pw.DoubleField(index=True)
    policy_version = pw.IntegerField()
    judged = pw.IntegerField(default=0)
    insufficient = pw.IntegerField(default=0)
    excluded = pw.IntegerField(default=0)
    included = pw.IntegerField(default=0)
    held = pw.IntegerField(default=0)
    seconds = pw.DoubleField(default=0.0)


class Incident(BaseModel):
    """A circuit-breaker trip: automatic exclusions are held while it is open."""
    opened_at = pw.DoubleField()
    state = pw.CharField(max_length=16, default="open", index=True)  # open, released, closed
    trigger = pw.CharField(max_length=16)  # share, signature
    summary = pw.TextField()
    signature = pw.TextField(default="")
    sites = JSONField(default=dict)  # site name -> {rule, evidence} of the held exclusions
    last_seen_at = pw.DoubleField()
    released_at = pw.DoubleField(null=True)
    released_by = pw.CharField(max_length=128, default="")
    closed_at = pw.DoubleField(null=True)
    policy_version = pw.IntegerField(null=True)


class Webhook(BaseModel):
    url = pw.CharField(max_length=1024)
    active = pw.BooleanField(default=True)
    created_at = pw.DoubleField(default=time.time)
    created_by = pw.CharField(max_length=128, default="system")


class WebhookDelivery(BaseModel):
    """One site event to one webhook: attempts until delivered or given up."""
    webhook = pw.ForeignKeyField(Webhook, backref="deliveries", on_delete="CASCADE")
    event = pw.ForeignKeyField(SiteEvent, backref="deliveries", on_delete="CASCADE")
    state = pw.CharField(max_length=16, default="pending")  # pending, delivered, failed
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DoubleField()
    last_attempt_at = pw.DoubleField(null=True)
    last_status = pw.IntegerField(null=True)  # HTTP status of the last attempt
    last_error = pw.TextField(default="")
    delivered_at = pw.DoubleField(null=True)

    class Meta:
        indexes = ((("state", "next_attempt_at"), False),)


class ApiToken(BaseModel):
    """A token for scripts and CI; only its SHA-256 is stored, shown once at creation."""
    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=128)
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=16)  # the first characters, to tell tokens apart
    created_at = pw.DoubleField(default=time.time)
    last_used_at = pw.DoubleField(null=True)
    revoked_at = pw.DoubleField(null=True)


class LoginAttempt(BaseModel):
    """Every web login attempt: failures in a recent window refuse further tries."""
    name = pw.CharField(max_length=64)
    address = pw.CharField(max_length=64)
    at = pw.DoubleField(default=time.time)
    succeeded = pw.BooleanField()

    class Meta:
        indexes = ((("name", "at"), False), (("address", "at"), False))


class SsoIdentity(BaseModel):
    """A user of the OpenID Provider `issuer` known by its `subject` (the `sub` claim, which
    the provider never reuses); names can change or collide, the pair cannot."""
    issuer = pw.CharField(max_length=255)
    subject = pw.CharField(max_length=255)
    user = pw.ForeignKeyField(User, backref="identities", on_delete="CASCADE")
    created_at = pw.DoubleField(default=time.time)
    last_login_at = pw.DoubleField(default=time.time)

    class Meta:
        table_name = "sso_identity"
        indexes = ((("issuer", "subject"), True),)


# Upper edges (seconds) of the fixed wall-time histogram of the daily rollups; the
# last bucket holds everything from the last edge up. Changing them needs a migration.
WALL_EDGES = (10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800,
              21600, 43200)
WALL_BUCKETS = tuple(f"wall_b{n:02d}" for n in range(len(WALL_EDGES) + 1))
# Per job: CPU over wall (above 1 for a job using several cores), and seconds from
# submission to start (finer at the low end: a site without a queue starts in seconds).
CPU_EFFICIENCY_EDGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2, 3, 4, 6, 8,
                        16, 32, 64)
CPU_EFFICIENCY_BUCKETS = tuple(f"cpu_eff_b{n:02d}" for n in range(len(CPU_EFFICIENCY_EDGES) + 1))
QUEUE_EDGES = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800,
               86400)
QUEUE_BUCKETS = tuple(f"queue_b{n:02d}" for n in range(len(QUEUE_EDGES) + 1))


class DailyRollup(BaseModel):
    """Finished jobs per UTC day of their end, site, template and category.

    Kept for ever, and kept up to date in the same transaction that gives a job
    its final state (appliance/rollups.py): pages that look back in time read
    these rows, never job rows. `day` is the UNIX second at which the day starts.
    """
    day = pw.IntegerField()
    site = pw.ForeignKeyField(Site, backref="rollups", on_delete="CASCADE")
    template = pw.ForeignKeyField(Template, backref="rollups", on_delete="CASCADE")
    category = pw.CharField(max_length=16)
    completed = pw.IntegerField(default=0)
    failed = pw.IntegerField(default=0)
    killed = pw.IntegerField(default=0)
    lost = pw.IntegerField(default=0)
    wall_count = pw.IntegerField(default=0)
    wall_sum = pw.DoubleField(default=0.0)
    wall_max = pw.DoubleField(null=True)
    cpu_count = pw.IntegerField(default=0)
    cpu_sum = pw.DoubleField(default=0.0)
    queue_count = pw.IntegerField(default=0)  # jobs with both a submission and a start
    queue_sum = pw.DoubleField(default=0.0)

    class Meta:
        indexes = ((("day", "site", "template", "category"), True),
                   (("site", "day"), False),
                   # The robot's matrix: its counts without reading the wide rows.
                   (("category", "day", "site", "completed", "failed", "killed", "lost"),
                    False))


for _bucket in (*WALL_BUCKETS, *CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS):
    DailyRollup._meta.add_field(_bucket, pw.IntegerField(default=0))


class RollupMetric(BaseModel):
    """A payload metric's count, sum, min and max per rollup key and metric name."""
    day = pw.IntegerField()
    site = pw.ForeignKeyField(Site, backref="rollup_metrics", on_delete="CASCADE")
    template = pw.ForeignKeyField(Template, backref="rollup_metrics", on_delete="CASCADE")
    category = pw.CharField(max_length=16)
    name = pw.CharField(max_length=128)
    count = pw.IntegerField(default=0)
    total = pw.DoubleField(default=0.0)
    low = pw.DoubleField(null=True)
    high = pw.DoubleField(null=True)

    class Meta:
        indexes = ((("day", "site", "template", "category", "name"), True),)


class RollupMetricBucket(BaseModel):
    """How many of a rollup key's values of a payload metric fell in one bucket of a
    fixed logarithmic scale (appliance/rollups.py metric_bucket): the metric's daily
    percentiles. Only buckets that hold values have a row."""
    day = pw.IntegerField()
    site = pw.ForeignKeyField(Site, backref="rollup_metric_buckets", on_delete="CASCADE")
    template = pw.ForeignKeyField(Template, backref="rollup_metric_buckets", on_delete="CASCADE")
    category = pw.CharField(max_length=16)
    name = pw.CharField(max_length=128)
    bucket = pw.IntegerField()
    count = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("day", "site", "template", "category", "name", "bucket"), True),
                   (("site", "template", "day"), False))


class RollupBackfill(BaseModel):
    """Where the rollup backfill over existing job rows stands (resumable)."""
    last_job_id = pw.IntegerField(default=0)
    max_job_id = pw.IntegerField(default=0)
    started_at = pw.DoubleField()
    finished_at = pw.DoubleField(null=True)


class Credential(BaseModel):
    """A certificate with its key, or a bearer token. Only what may be shown is
    here; the key material is in 0600 files (appliance/credentials.py)."""
    name = pw.CharField(unique=True, max_length=64)
    kind = pw.CharField(max_length=16)  # x509, token
    subject = pw.TextField(default="")
    issuer = pw.TextField(default="")
    not_before = pw.DoubleField(null=True)
    expires_at = pw.DoubleField()  # of the certificate or token itself
    usable_until = pw.DoubleField(null=True)  # of what is presented: the proxy, the token
    proxy_lifetime = pw.DoubleField(default=12 * 3600.0)  # s
    renew_fraction = pw.DoubleField(default=0.5)
    warn_before = pw.DoubleField(default=7 * 86400.0)  # s
    refuse_before = pw.DoubleField(default=60.0)  # s
    renewed_at = pw.DoubleField(null=True)
    renewals = pw.IntegerField(default=0)
    last_error = pw.TextField(default="")
    created_at = pw.DoubleField(default=time.time)
    created_by = pw.CharField(max_length=128, default="system")


class CredentialEvent(BaseModel):
    """Added, renewed, renewal failed: a credential's history."""
    credential = pw.ForeignKeyField(Credential, backref="events", on_delete="CASCADE")
    at = pw.DoubleField()
    kind = pw.CharField(max_length=16)
    message = pw.TextField(default="")

    class Meta:
        indexes = ((("credential", "at"), False),)


class WebSession(BaseModel):
    """A signed-in browser: the cookie carries a random id, only its SHA-256 is
    stored; a session ends on logout, on a password change, on a revoke, or when
    idle or old (see appliance/sessions.py)."""
    user = pw.ForeignKeyField(User, backref="web_sessions", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    method = pw.CharField(max_length=16)       # how the user signed in: password, oidc, ...
    address = pw.CharField(max_length=64)
    agent = pw.CharField(max_length=200)       # the browser's User-Agent, for the list
    started_at = pw.DoubleField(default=time.time)
    last_seen_at = pw.DoubleField(default=time.time)
    ended_at = pw.DoubleField(null=True)

    class Meta:
        table_name = "web_session"
        indexes = ((("user", "ended_at"), False),)


class Comparison(BaseModel):
    """A comparison of two final sides (appliance/compare): computed once and kept."""
    key = pw.CharField(max_length=64, unique=True)  # SHA-256 of the sides and options
    result = JSONField()
    computed_at = pw.DoubleField()


class TestSamples(BaseModel):
    """What a comparison reads of one settled test (appliance/compare/samplestore.py):
    kept so that comparing it again needs no pass over its job rows."""
    test = pw.ForeignKeyField(Test, unique=True, on_delete="CASCADE")
    data = pw.BlobField()
    computed_at = pw.DoubleField()

    __test__ = False


ALL_MODELS = [User, Site, JobTemplate, Template, TemplateSite, Test, TestSite, Job, TestLog,
              Agent, PolicyVersion, SiteEvent, HealthEvaluation, Incident, Webhook,
              WebhookDelivery, ApiToken, LoginAttempt, SsoIdentity, DailyRollup,
              RollupMetric, RollupMetricBucket, RollupBackfill, Credential, CredentialEvent,
              WebSession,
              Comparison, TestSamples]
