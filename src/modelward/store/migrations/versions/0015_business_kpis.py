"""business KPIs: named business figures logged per endpoint (revenue, conversion, cost, ...)

Revision ID: 0015
Revises: 0014

Append-only data, like the prediction log: no audit event, no foreign key (the service checks
the endpoint exists when a value is logged).
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'business_metrics',
        sa.Column('id', _BIGINT, primary_key=True, autoincrement=True),
        sa.Column('endpoint', sa.String(256), nullable=False),
        sa.Column('name', sa.String(128), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('request_id', sa.String(128), nullable=True),
        sa.Column('actor', sa.String(256), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_business_metrics_endpoint_name_at', 'business_metrics', ['endpoint', 'name', 'at'])
    op.create_index('ix_business_metrics_endpoint_at', 'business_metrics', ['endpoint', 'at'])


def downgrade() -> None:
    op.drop_index('ix_business_metrics_endpoint_at', table_name='business_metrics')
    op.drop_index('ix_business_metrics_endpoint_name_at', table_name='business_metrics')
    op.drop_table('business_metrics')
