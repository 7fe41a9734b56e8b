"""run heartbeats: when a running run's process last said it was alive

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# Plain ALTER TABLE, not batch mode: on SQLite a batch rebuild of `runs` drops the old table,
# and with foreign keys on that cascades into every run's metrics, params and tags.


def upgrade() -> None:
    op.add_column('runs', sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_runs_status_heartbeat', 'runs', ['status', 'last_heartbeat_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_runs_status_heartbeat', table_name='runs')
    op.drop_column('runs', 'last_heartbeat_at')  # ALTER TABLE DROP COLUMN: SQLite 3.35 or newer
