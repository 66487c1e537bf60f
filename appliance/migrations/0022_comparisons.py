"""Comparisons of two final sides, kept once computed (appliance/compare/store.py), and
the worker node each job ran on (appliance/workers.py). A frozen copy of the model as it was."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class Comparison(Model):
        key = CharField(max_length=64, unique=True)
        result = TextField()
        computed_at = DoubleField()
        class Meta:
            database = db
            table_name = 'comparison'

    db.create_tables([Comparison])
    migrator.migrate(migrator.add_column('job', 'worker', TextField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('job', 'worker'))
    migrator.migrate(migrator.drop_table('comparison'))
