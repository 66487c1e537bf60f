"""Server-side web sessions: revocable on logout, password change or by an admin.
A frozen copy of the model as it was."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class WebSession(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        token_hash = CharField(max_length=64, unique=True)
        method = CharField(max_length=16)
        address = CharField(max_length=64)
        agent = CharField(max_length=200)
        started_at = DoubleField()
        last_seen_at = DoubleField()
        ended_at = DoubleField(null=True)
        class Meta:
            database = db
            table_name = 'web_session'
            indexes = ((('user', 'ended_at'), False),)

    db.create_tables([WebSession])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('web_session'))
