"""prediction log: the per-request index of the Parquet log, and ground-truth feedback

Revision ID: 0013
Revises: 0012

Full records live in append-only Parquet files under the artifact root; these tables hold only
what a lookup by request id and the per-version figures need.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('prediction_index',
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('endpoint', sa.String(length=256), nullable=False),
    sa.Column('model_name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('part', sa.String(length=1024), nullable=False),
    sa.PrimaryKeyConstraint('request_id', 'mode')
    )
    op.create_index('ix_prediction_index_endpoint_at', 'prediction_index', ['endpoint', 'at'], unique=False)
    op.create_index(
        'ix_prediction_index_endpoint_version_at', 'prediction_index', ['endpoint', 'version', 'at'], unique=False
    )
    op.create_table('prediction_feedback',
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('endpoint', sa.String(length=256), nullable=False),
    sa.Column('ground_truth', sa.JSON(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_index('ix_prediction_feedback_endpoint', 'prediction_feedback', ['endpoint'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_prediction_feedback_endpoint', table_name='prediction_feedback')
    op.drop_table('prediction_feedback')
    op.drop_index('ix_prediction_index_endpoint_version_at', table_name='prediction_index')
    op.drop_index('ix_prediction_index_endpoint_at', table_name='prediction_index')
    op.drop_table('prediction_index')
