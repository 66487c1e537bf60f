"""The first schema: a frozen copy of the models as they were, so later model
changes never alter what this migration creates."""
from peewee import *  # noqa: F403 (generated migration)
import time

def up(migrator, db):
    class Agent(Model):
        role = CharField(max_length=16)
        host = CharField(max_length=128)
        pid = IntegerField()
        version = CharField(max_length=32, default='')
        started_at = DoubleField()
        heartbeat_at = DoubleField()
        load = IntegerField(default=0)
        stopped_at = DoubleField(null=True)
        class Meta:
            database = db
            table_name = 'agent'
            indexes = ((('role', 'host'), True),)
    db.create_tables([Agent])

    class JobTemplate(Model):
        name = CharField(unique=True, max_length=128)
        command = TextField()
        image = CharField(null=True, max_length=512)
        environment = TextField()
        timeout = IntegerField(default=3600)
        metrics_file = CharField(max_length=256, default='metrics.json')
        description = TextField(default='')
        class Meta:
            database = db
            table_name = 'job_template'
    db.create_tables([JobTemplate])

    class Template(Model):
        name = CharField(unique=True, max_length=128)
        category = CharField(max_length=16, default='stress')
        golden = BooleanField(default=False)
        description = TextField(default='')
        job_template = ForeignKeyField(JobTemplate)
        max_running = IntegerField(default=1)
        min_queue_depth = IntegerField(default=0)
        resubmit = BooleanField(default=True)
        job_cap = IntegerField(null=True)
        duration = IntegerField(default=3600)
        active = BooleanField(default=True)
        created_at = DoubleField(default=time.time)
        modified_at = DoubleField(default=time.time)
        class Meta:
            database = db
            table_name = 'template'
    db.create_tables([Template])

    class Test(Model):
        jobs_total = IntegerField(default=0)
        jobs_pending = IntegerField(default=0)
        jobs_queued = IntegerField(default=0)
        jobs_running = IntegerField(default=0)
        jobs_completed = IntegerField(default=0)
        jobs_failed = IntegerField(default=0)
        jobs_killed = IntegerField(default=0)
        jobs_lost = IntegerField(default=0)
        efficiency = DoubleField(null=True)
        wall_p50 = DoubleField(null=True)
        wall_p90 = DoubleField(null=True)
        wall_p95 = DoubleField(null=True)
        summarized_at = DoubleField(null=True)
        template = ForeignKeyField(Template)
        category = CharField(max_length=16)
        golden = BooleanField(default=False)
        description = TextField(default='')
        command = TextField()
        image = CharField(null=True, max_length=512)
        environment = TextField()
        timeout = IntegerField()
        metrics_file = CharField(max_length=256)
        start_at = DoubleField()
        end_at = DoubleField()
        state = CharField(index=True, max_length=16, default='draft')
        state_reason = TextField(default='')
        submit_host = CharField(index=True, null=True, max_length=128)
        owner = CharField(max_length=64, default='system')
        cloned_from = ForeignKeyField('self', null=True)
        created_at = DoubleField(default=time.time)
        class Meta:
            database = db
            table_name = 'test'
    db.create_tables([Test])

    class Site(Model):
        name = CharField(unique=True, max_length=128)
        backend = CharField(max_length=32)
        backend_settings = TextField()
        cloud = CharField(max_length=64, default='')
        tags = TextField()
        status = CharField(max_length=16, default='online')
        status_reason = TextField(default='')
        status_changed_at = DoubleField(default=time.time)
        created_at = DoubleField(default=time.time)
        class Meta:
            database = db
            table_name = 'site'
    db.create_tables([Site])

    class Job(Model):
        test = ForeignKeyField(Test, on_delete='CASCADE')
        site = ForeignKeyField(Site)
        attempt = IntegerField()
        state = CharField(max_length=16, default='pending')
        backend_id = CharField(null=True, max_length=256)
        submit_host = CharField(null=True, max_length=128)
        created_at = DoubleField(default=time.time)
        submitted_at = DoubleField(null=True)
        started_at = DoubleField(null=True)
        ended_at = DoubleField(null=True)
        exit_code = IntegerField(null=True)
        reason = TextField(null=True)
        wall_seconds = DoubleField(null=True)
        cpu_seconds = DoubleField(null=True)
        metrics = TextField(null=True)
        work_dir = CharField(null=True, max_length=1024)
        class Meta:
            database = db
            table_name = 'job'
            indexes = ((('test', 'state'), False), (('site', 'ended_at'), False), (('state',), False))
    db.create_tables([Job])

    class TemplateSite(Model):
        template = ForeignKeyField(Template, on_delete='CASCADE')
        site = ForeignKeyField(Site)
        class Meta:
            database = db
            table_name = 'template_site'
            indexes = ((('template', 'site'), True),)
    db.create_tables([TemplateSite])

    class TestLog(Model):
        test = ForeignKeyField(Test, on_delete='CASCADE')
        at = DoubleField(default=time.time)
        severity = CharField(max_length=16)
        message = TextField()
        actor = CharField(max_length=128, default='system')
        class Meta:
            database = db
            table_name = 'test_log'
    db.create_tables([TestLog])

    class TestSite(Model):
        jobs_total = IntegerField(default=0)
        jobs_pending = IntegerField(default=0)
        jobs_queued = IntegerField(default=0)
        jobs_running = IntegerField(default=0)
        jobs_completed = IntegerField(default=0)
        jobs_failed = IntegerField(default=0)
        jobs_killed = IntegerField(default=0)
        jobs_lost = IntegerField(default=0)
        efficiency = DoubleField(null=True)
        wall_p50 = DoubleField(null=True)
        wall_p90 = DoubleField(null=True)
        wall_p95 = DoubleField(null=True)
        summarized_at = DoubleField(null=True)
        test = ForeignKeyField(Test, on_delete='CASCADE')
        site = ForeignKeyField(Site)
        max_running = IntegerField()
        min_queue_depth = IntegerField()
        resubmit = BooleanField()
        job_cap = IntegerField(null=True)
        jobs_created = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'test_site'
            indexes = ((('test', 'site'), True),)
    db.create_tables([TestSite])

    class User(Model):
        name = CharField(unique=True, max_length=64)
        role = CharField(max_length=16, default='user')
        password_hash = CharField(max_length=256)
        created_at = DoubleField(default=time.time)
        class Meta:
            database = db
            table_name = 'user'
    db.create_tables([User])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('user'))
    migrator.migrate(migrator.drop_table('test_site'))
    migrator.migrate(migrator.drop_table('test_log'))
    migrator.migrate(migrator.drop_table('template_site'))
    migrator.migrate(migrator.drop_table('job'))
    migrator.migrate(migrator.drop_table('site'))
    migrator.migrate(migrator.drop_table('test'))
    migrator.migrate(migrator.drop_table('template'))
    migrator.migrate(migrator.drop_table('job_template'))
    migrator.migrate(migrator.drop_table('agent'))
