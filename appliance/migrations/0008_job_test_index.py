"""The test page's aggregates read a test's jobs by state, site, end and wall
time: one index that covers them replaces the (test, state) index. Tests keep
the data of their plots, computed with their summary."""
from peewee import *  # noqa: F403 (migration)


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('job', 'job_test_id_state'),
        migrator.add_index('job', ('test_id', 'state', 'site_id', 'ended_at', 'wall_seconds'),
                           False),
        migrator.add_column('test', 'plot_data', TextField(null=True)),
        migrator.add_column('test', 'plots_at', DoubleField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('test', 'plots_at'),
        migrator.drop_column('test', 'plot_data'),
        migrator.drop_index('job', 'job_test_id_state_site_id_ended_at_wall_seconds'),
        migrator.add_index('job', ('test_id', 'state'), False),
    )
