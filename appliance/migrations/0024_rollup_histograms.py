"""Daily rollups gain histograms of CPU efficiency, of queue time and of each payload
metric (table rollup_metric_bucket), so that the site evolution shows their median and
p90 as it does the wall time's, and an index holding
the robot matrix's counts (read without the wide rows).

The jobs the rollups counted before this (by the backfill or live) are added to the
new histograms from the job rows still there; days whose job rows retention removed
keep none (their percentiles stay empty, their counts and means are untouched). Then
the backfill that fills the rollups from job rows of final jobs runs, moved here from
0016 so that it is always today's code on today's columns: on a database it already
finished for, it does nothing; interrupted, it resumes at its cursor.

Not one transaction (atomic = False): the backfill commits every batch with its
cursor. Agents of this version start only after the migration finished (they migrate
first, under the migration lock), so no job is counted live meanwhile.
"""
import sys
import time

from peewee import *  # noqa: F403 (migration)

atomic = False


def _bucket_table(db):
    class Site(Model):
        class Meta:
            database = db
            table_name = 'site'

    class Template(Model):
        class Meta:
            database = db
            table_name = 'template'

    class RollupMetricBucket(Model):
        day = IntegerField()
        site = ForeignKeyField(Site, on_delete='CASCADE')
        template = ForeignKeyField(Template, on_delete='CASCADE')
        category = CharField(max_length=16)
        name = CharField(max_length=128)
        bucket = IntegerField()
        count = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'rollup_metric_bucket'
            indexes = ((('day', 'site', 'template', 'category', 'name', 'bucket'), True),
                       (('site', 'template', 'day'), False))
    return RollupMetricBucket


def up(migrator, db):
    from appliance import rollups
    have = {c.name for c in db.get_columns('daily_rollup')}
    from appliance.models import CPU_EFFICIENCY_BUCKETS, QUEUE_BUCKETS
    wanted = [name for name in (*CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS) if name not in have]
    if wanted:
        with db.atomic():
            db.create_tables([_bucket_table(db)], safe=True)
            migrator.migrate(*[migrator.add_column('daily_rollup', name, IntegerField(default=0))
                               for name in wanted])
            began = time.time()
            added = rollups.fill_histograms()
        if added:
            print(f"rollups: {added} counted jobs added to the CPU efficiency and queue "
                  f"histograms in {time.time() - began:.0f} s", file=sys.stderr, flush=True)
    with db.atomic():
        db.execute_sql('CREATE INDEX IF NOT EXISTS "daily_rollup_category_day_site_id_completed_'
                       'failed_killed_lost" ON "daily_rollup" ("category", "day", "site_id", '
                       '"completed", "failed", "killed", "lost")')
    began = time.time()
    counted = rollups.backfill(progress=lambda line: print(line, file=sys.stderr, flush=True))
    if counted:
        print(f"rollups: {counted} finished jobs counted in {time.time() - began:.0f} s",
              file=sys.stderr, flush=True)


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "daily_rollup_category_day_site_id_completed_failed_'
                   'killed_lost"')
    from appliance.models import CPU_EFFICIENCY_BUCKETS, QUEUE_BUCKETS
    migrator.migrate(*[migrator.drop_column('daily_rollup', name)
                       for name in (*CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS)])
    migrator.migrate(migrator.drop_table('rollup_metric_bucket'))
