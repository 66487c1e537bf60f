"""Daily rollups (filled from the existing job rows by 0024's backfill), and the
columns the data lifecycle keeps per test.

Not one transaction (atomic = False); every step checks whether it is already done.
"""

from peewee import *  # noqa: F403 (migration)

atomic = False
WALL_BUCKETS = [f"wall_b{n:02d}" for n in range(17)]


def _tables(db):
    class Site(Model):
        class Meta:
            database = db
            table_name = 'site'

    class Template(Model):
        class Meta:
            database = db
            table_name = 'template'

    class DailyRollup(Model):
        day = IntegerField()
        site = ForeignKeyField(Site, on_delete='CASCADE')
        template = ForeignKeyField(Template, on_delete='CASCADE')
        category = CharField(max_length=16)
        completed = IntegerField(default=0)
        failed = IntegerField(default=0)
        killed = IntegerField(default=0)
        lost = IntegerField(default=0)
        wall_count = IntegerField(default=0)
        wall_sum = DoubleField(default=0.0)
        wall_max = DoubleField(null=True)
        cpu_count = IntegerField(default=0)
        cpu_sum = DoubleField(default=0.0)
        queue_count = IntegerField(default=0)
        queue_sum = DoubleField(default=0.0)

        class Meta:
            database = db
            table_name = 'daily_rollup'
            indexes = ((('day', 'site', 'template', 'category'), True), (('site', 'day'), False))

    for name in WALL_BUCKETS:
        DailyRollup._meta.add_field(name, IntegerField(default=0))

    class RollupMetric(Model):
        day = IntegerField()
        site = ForeignKeyField(Site, on_delete='CASCADE')
        template = ForeignKeyField(Template, on_delete='CASCADE')
        category = CharField(max_length=16)
        name = CharField(max_length=128)
        count = IntegerField(default=0)
        total = DoubleField(default=0.0)
        low = DoubleField(null=True)
        high = DoubleField(null=True)

        class Meta:
            database = db
            table_name = 'rollup_metric'
            indexes = ((('day', 'site', 'template', 'category', 'name'), True),)

    class RollupBackfill(Model):
        last_job_id = IntegerField(default=0)
        max_job_id = IntegerField(default=0)
        started_at = DoubleField()
        finished_at = DoubleField(null=True)

        class Meta:
            database = db
            table_name = 'rollup_backfill'

    return [DailyRollup, RollupMetric, RollupBackfill]


def up(migrator, db):
    with db.atomic():
        db.create_tables(_tables(db), safe=True)
        have = {c.name for c in db.get_columns('test')}
        columns = [('finished_at', DoubleField(null=True)), ('keep', BooleanField(default=False)),
                   ('jobs_removed_at', DoubleField(null=True)),
                   ('logs_removed_at', DoubleField(null=True)),
                   ('archived_at', DoubleField(null=True)),
                   ('archive_removed_at', DoubleField(null=True))]
        migrator.migrate(*[migrator.add_column('test', name, field)
                           for name, field in columns if name not in have])
        # Tests that ended before this column existed: their last summary is the
        # closest record of when they finished.
        db.execute_sql("UPDATE test SET finished_at = COALESCE(summarized_at, end_at) "
                       "WHERE finished_at IS NULL AND state IN ('completed', 'error', "
                       "'cancelled')")
    # The backfill that fills these tables from the existing job rows runs in 0024: it
    # is today's code (appliance/rollups.py), which writes today's columns.
