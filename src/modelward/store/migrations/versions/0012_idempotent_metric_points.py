"""idempotent metric points: one row per (run, key, step, timestamp, value)

Revision ID: 0012
Revises: 0011

A batch retried after a lost response used to store its points twice. MLflow's primary key on
metrics is (run, key, step, timestamp, value); the same unique index here lets ingestion insert
with ON CONFLICT DO NOTHING. NaN is stored as NULL, which a unique index never treats as equal,
so NaN points get a partial index of their own. The new index also serves what the old
(run_pk, key, step) index served: it has the same leading columns.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keep the first copy of each point already stored twice (GROUP BY puts NULLs together).
    op.execute(
        'DELETE FROM metrics WHERE id NOT IN '
        '(SELECT MIN(id) FROM metrics GROUP BY run_pk, "key", step, timestamp_ms, value)'
    )
    op.drop_index('ix_metrics_run_key_step', table_name='metrics')
    op.create_index('ux_metrics_point', 'metrics', ['run_pk', 'key', 'step', 'timestamp_ms', 'value'], unique=True)
    op.create_index(
        'ux_metrics_nan_point', 'metrics', ['run_pk', 'key', 'step', 'timestamp_ms'], unique=True,
        sqlite_where=sa.text('value IS NULL'), postgresql_where=sa.text('value IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('ux_metrics_nan_point', table_name='metrics')
    op.drop_index('ux_metrics_point', table_name='metrics')
    op.create_index('ix_metrics_run_key_step', 'metrics', ['run_pk', 'key', 'step'], unique=False)
