"""personal data scans: what a scan of a dataset or of an endpoint's prediction log found, appended

Revision ID: 0019
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'personal_data_scans',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('subject_type', sa.String(16), nullable=False),
        sa.Column('subject_id', sa.String(256), nullable=False),
        sa.Column('data_digest', sa.String(140), nullable=True),
        sa.Column('columns_found', sa.Integer(), nullable=False),
        sa.Column('kinds', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('scanned_by', sa.String(256), nullable=True),
        sa.Column('scanned_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_personal_data_scans_subject', 'personal_data_scans', ['subject_type', 'subject_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_personal_data_scans_subject', table_name='personal_data_scans')
    op.drop_table('personal_data_scans')
