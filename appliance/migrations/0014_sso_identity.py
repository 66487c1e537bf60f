"""Single sign-on: which user an OpenID Provider's subject is. Frozen copies of
the models as they were."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class SsoIdentity(Model):
        issuer = CharField(max_length=255)
        subject = CharField(max_length=255)
        user = ForeignKeyField(User, on_delete='CASCADE')
        created_at = DoubleField()
        last_login_at = DoubleField()
        class Meta:
            database = db
            table_name = 'sso_identity'
            indexes = ((('issuer', 'subject'), True),)

    db.create_tables([SsoIdentity])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('sso_identity'))
