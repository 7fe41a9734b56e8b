"""mlflow logged models

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mlflow_logged_models',
    sa.Column('id', sa.String(length=34), nullable=False),
    sa.Column('experiment_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('model_type', sa.String(length=256), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('mlflow_logged_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mlflow_logged_models_experiment_id'), ['experiment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mlflow_logged_models_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mlflow_logged_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mlflow_logged_models_run_id'))
        batch_op.drop_index(batch_op.f('ix_mlflow_logged_models_experiment_id'))

    op.drop_table('mlflow_logged_models')
