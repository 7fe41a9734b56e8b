"""deployments: named endpoints and the append-only revisions of what they serve

Revision ID: 0014
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'deployments',
        sa.Column('name', sa.String(128), primary_key=True),
        sa.Column('environment', sa.String(40), nullable=False),
        sa.Column('model_name', sa.String(256), nullable=False),
        sa.Column('sticky_key', sa.String(140), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(256), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_deployments_environment', 'deployments', ['environment'])
    op.create_index('ix_deployments_model_name', 'deployments', ['model_name'])
    op.create_table(
        'deployment_revisions',
        sa.Column('id', _BIGINT, primary_key=True, autoincrement=True),
        sa.Column('deployment_name', sa.String(128), sa.ForeignKey('deployments.name', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(256), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('routes', sa.JSON(), nullable=False),
        sa.Column('rollout', sa.JSON(), nullable=True),
        sa.UniqueConstraint('deployment_name', 'revision', name='uq_deployment_revisions_revision'),
    )


def downgrade() -> None:
    op.drop_table('deployment_revisions')
    op.drop_index('ix_deployments_model_name', table_name='deployments')
    op.drop_index('ix_deployments_environment', table_name='deployments')
    op.drop_table('deployments')
