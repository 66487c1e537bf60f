"""The values a comparison reads of a settled test, kept (appliance/compare/samplestore.py).
A frozen copy of the model as it was."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    class Test(Model):
        class Meta:
            database = db
            table_name = 'test'

    class TestSamples(Model):
        test = ForeignKeyField(Test, unique=True, on_delete='CASCADE')
        data = BlobField()
        computed_at = DoubleField()
        class Meta:
            database = db
            table_name = 'test_samples'

    db.create_tables([TestSamples])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('test_samples'))
