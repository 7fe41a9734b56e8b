"""explanations: every global explanation of a model version, by revision

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'model_explanations',
        sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('data_digest', sa.String(64), nullable=True),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(256), nullable=True),
        sa.Column('created_at', _TIME, nullable=False),
        sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('version_pk', 'revision'),
    )


def downgrade() -> None:
    op.drop_table('model_explanations')
