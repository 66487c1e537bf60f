"""A test's lease: a number the server raises whenever it gives the test to another
submit host. A submit agent writes for a test only while the number it read still
stands, so a node cut off from the database and taken over stops acting on it."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('test', 'lease', IntegerField(default=0)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('test', 'lease'),
    )
