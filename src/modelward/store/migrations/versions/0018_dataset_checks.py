"""dataset checks: every check of a dataset against its expectations, appended

Revision ID: 0018
Revises: 0017
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'dataset_checks',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('artifact_id', sa.String(32), nullable=False),
        sa.Column('dataset_digest', sa.String(140), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('passed', sa.Boolean(), nullable=True),
        sa.Column('trigger', sa.String(32), nullable=False),
        sa.Column('declaration', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('checked_by', sa.String(256), nullable=True),
        sa.Column('checked_at', _TIME, nullable=False),
        sa.ForeignKeyConstraint(['artifact_id'], ['lineage_artifacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dataset_checks_artifact', 'dataset_checks', ['artifact_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_dataset_checks_artifact', table_name='dataset_checks')
    op.drop_table('dataset_checks')
