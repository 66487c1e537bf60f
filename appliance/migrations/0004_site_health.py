"""Site health: automation fields on sites, policy versions, site events,
evaluations, incidents and webhooks. Frozen copies of the models as they were."""
from peewee import *  # noqa: F403 (migration)
import time


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('site', 'health_automation', BooleanField(default=True)),
        migrator.add_column('site', 'automation_reason', TextField(default='')),
        migrator.add_column('site', 'pinned', BooleanField(default=False)),
        migrator.add_column('site', 'pin_reason', TextField(default='')),
        migrator.add_column('site', 'pinned_by', CharField(max_length=128, default='')),
        migrator.add_column('site', 'pinned_at', DoubleField(null=True)),
        migrator.add_index('job', ('ended_at',), False),
    )

    class Site(Model):
        class Meta:
            database = db
            table_name = 'site'

    class PolicyVersion(Model):
        source = TextField()
        name = CharField(max_length=128, default='')
        loaded_at = DoubleField(default=time.time)
        loaded_by = CharField(max_length=128, default='system')
        class Meta:
            database = db
            table_name = 'policy_version'

    class SiteEvent(Model):
        site = ForeignKeyField(Site, on_delete='CASCADE')
        at = DoubleField()
        kind = CharField(max_length=16)
        old_status = CharField(max_length=16)
        new_status = CharField(max_length=16)
        rule = CharField(max_length=128, default='')
        evidence = TextField()
        reason = TextField(default='')
        actor = CharField(max_length=128)
        automatic = BooleanField(default=False)
        policy_version = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'site_event'
            indexes = ((('site', 'at'), False), (('at',), False))

    class HealthEvaluation(Model):
        at = DoubleField(index=True)
        policy_version = IntegerField()
        judged = IntegerField(default=0)
        insufficient = IntegerField(default=0)
        excluded = IntegerField(default=0)
        included = IntegerField(default=0)
        held = IntegerField(default=0)
        seconds = DoubleField(default=0.0)
        class Meta:
            database = db
            table_name = 'health_evaluation'

    class Incident(Model):
        opened_at = DoubleField()
        state = CharField(max_length=16, default='open', index=True)
        trigger = CharField(max_length=16)
        summary = TextField()
        signature = TextField(default='')
        sites = TextField()
        last_seen_at = DoubleField()
        released_at = DoubleField(null=True)
        released_by = CharField(max_length=128, default='')
        closed_at = DoubleField(null=True)
        policy_version = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'incident'

    class Webhook(Model):
        url = CharField(max_length=1024)
        active = BooleanField(default=True)
        created_at = DoubleField(default=time.time)
        created_by = CharField(max_length=128, default='system')
        class Meta:
            database = db
            table_name = 'webhook'

    class WebhookDelivery(Model):
        webhook = ForeignKeyField(Webhook, on_delete='CASCADE')
        event = ForeignKeyField(SiteEvent, on_delete='CASCADE')
        state = CharField(max_length=16, default='pending')
        attempts = IntegerField(default=0)
        next_attempt_at = DoubleField()
        last_attempt_at = DoubleField(null=True)
        last_status = IntegerField(null=True)
        last_error = TextField(default='')
        delivered_at = DoubleField(null=True)
        class Meta:
            database = db
            table_name = 'webhook_delivery'
            indexes = ((('state', 'next_attempt_at'), False),)

    db.create_tables([PolicyVersion, SiteEvent, HealthEvaluation, Incident, Webhook,
                      WebhookDelivery])


def down(migrator, db):
    for table in ('webhook_delivery', 'webhook', 'incident', 'health_evaluation', 'site_event',
                  'policy_version'):
        migrator.migrate(migrator.drop_table(table))
    migrator.migrate(
        migrator.drop_index('job', 'job_ended_at'),
        *[migrator.drop_column('site', c) for c in (
            'health_automation', 'automation_reason', 'pinned', 'pin_reason', 'pinned_by',
            'pinned_at')])
