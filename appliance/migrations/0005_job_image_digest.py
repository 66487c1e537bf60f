"""The image that actually ran a job (Docker backend)."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('job', 'image_digest', CharField(max_length=256, null=True)),
    )
