"""A payload may ask for a network (job.network in its template); without, none."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('job_template', 'network', BooleanField(default=False)),
        migrator.add_column('test', 'network', BooleanField(default=False)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('test', 'network'),
        migrator.drop_column('job_template', 'network'),
    )
