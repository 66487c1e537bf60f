"""The last reachability check of each site's backend (`hc site check`)."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('site', 'check_ok', BooleanField(null=True)),
        migrator.add_column('site', 'check_message', TextField(default='')),
        migrator.add_column('site', 'checked_at', DoubleField(null=True)),
    )
