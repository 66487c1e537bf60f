"""Credentials (certificates with keys, bearer tokens): what may be shown of
them and their renewal history. Frozen copies of the models as they were."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class Credential(Model):
        name = CharField(unique=True, max_length=64)
        kind = CharField(max_length=16)
        subject = TextField(default='')
        issuer = TextField(default='')
        not_before = DoubleField(null=True)
        expires_at = DoubleField()
        usable_until = DoubleField(null=True)
        proxy_lifetime = DoubleField(default=43200.0)
        renew_fraction = DoubleField(default=0.5)
        warn_before = DoubleField(default=604800.0)
        refuse_before = DoubleField(default=60.0)
        renewed_at = DoubleField(null=True)
        renewals = IntegerField(default=0)
        last_error = TextField(default='')
        created_at = DoubleField()
        created_by = CharField(max_length=128, default='system')
        class Meta:
            database = db
            table_name = 'credential'

    class CredentialEvent(Model):
        credential = ForeignKeyField(Credential, on_delete='CASCADE')
        at = DoubleField()
        kind = CharField(max_length=16)
        message = TextField(default='')
        class Meta:
            database = db
            table_name = 'credential_event'
            indexes = ((('credential', 'at'), False),)

    db.create_tables([Credential, CredentialEvent])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('credential_event'))
    migrator.migrate(migrator.drop_table('credential'))
