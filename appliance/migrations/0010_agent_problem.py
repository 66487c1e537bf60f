"""What keeps an agent from doing all of its work (a full work area), shown on the
index, in /metrics and by the container health check."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('agent', 'problem', TextField(null=True)),
    )
