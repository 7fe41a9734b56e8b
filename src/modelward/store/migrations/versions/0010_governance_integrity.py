"""governance integrity: policy identity and dataset pin, advisory evaluations,
approval evidence, run writers, version authors

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('governance_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('dataset_digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_governance_policies_model_id'), ['model_id'], unique=False)
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authors', sa.JSON(), nullable=True))
    with op.batch_alter_table('governance_evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('advisory', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('governance_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))
    op.create_table('run_writers',
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_pk', 'user', 'kind')
    )
    # Existing runs: their creators wrote them.
    op.execute("INSERT INTO run_writers (run_pk, \"user\", kind, first_at) "
               "SELECT pk, \"user\", 'created', start_time FROM runs WHERE \"user\" IS NOT NULL")


def downgrade() -> None:
    op.drop_table('run_writers')
    with op.batch_alter_table('governance_reviews', schema=None) as batch_op:
        batch_op.drop_column('evidence')
    with op.batch_alter_table('governance_evaluations', schema=None) as batch_op:
        batch_op.drop_column('advisory')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('authors')
    with op.batch_alter_table('governance_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_policies_model_id'))
        batch_op.drop_column('dataset_digest')
        batch_op.drop_column('model_id')
