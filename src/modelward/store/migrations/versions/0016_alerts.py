"""alerts: the state of each rule on each endpoint, its history, and scheduler leases

Revision ID: 0016
Revises: 0015
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'alert_states',
        sa.Column('endpoint', sa.String(128), primary_key=True),
        sa.Column('rule', sa.String(64), primary_key=True),
        sa.Column('model_name', sa.String(256), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('since', _TIME, nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('evaluated_at', _TIME, nullable=True),
        sa.Column('fired_at', _TIME, nullable=True),
        sa.Column('resolved_at', _TIME, nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
    )
    op.create_table(
        'alert_events',
        sa.Column('id', _BIGINT, primary_key=True, autoincrement=True),
        sa.Column('endpoint', sa.String(128), nullable=False),
        sa.Column('rule', sa.String(64), nullable=False),
        sa.Column('model_name', sa.String(256), nullable=False),
        sa.Column('metric', sa.String(256), nullable=False),
        sa.Column('from_state', sa.String(16), nullable=False),
        sa.Column('to_state', sa.String(16), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('threshold', sa.Float(), nullable=False),
        sa.Column('comparison', sa.String(2), nullable=False),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('severity', sa.String(16), nullable=False),
        sa.Column('at', _TIME, nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('actions', sa.JSON(), nullable=False),
        sa.Column('rollback', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_alert_events_endpoint_at', 'alert_events', ['endpoint', 'at'])
    op.create_table(
        'scheduler_leases',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('holder', sa.String(128), nullable=False),
        sa.Column('expires_at', _TIME, nullable=False),
        sa.Column('acquired_at', _TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('scheduler_leases')
    op.drop_index('ix_alert_events_endpoint_at', table_name='alert_events')
    op.drop_table('alert_events')
    op.drop_table('alert_states')
