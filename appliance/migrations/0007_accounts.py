"""Web accounts: API tokens (stored hashed) and login attempts (for rate limiting).
Frozen copies of the models as they were."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class ApiToken(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        name = CharField(max_length=128)
        token_hash = CharField(max_length=64, unique=True)
        prefix = CharField(max_length=16)
        created_at = DoubleField()
        last_used_at = DoubleField(null=True)
        revoked_at = DoubleField(null=True)
        class Meta:
            database = db
            table_name = 'api_token'

    class LoginAttempt(Model):
        name = CharField(max_length=64)
        address = CharField(max_length=64)
        at = DoubleField()
        succeeded = BooleanField()
        class Meta:
            database = db
            table_name = 'login_attempt'
            indexes = ((('name', 'at'), False), (('address', 'at'), False))

    db.create_tables([ApiToken, LoginAttempt])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('login_attempt'))
    migrator.migrate(migrator.drop_table('api_token'))
