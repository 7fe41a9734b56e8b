"""lineage: artifacts, executions, input/output events, contexts

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table('lineage_artifacts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('identity', sa.String(length=1100), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('digest', sa.String(length=140), nullable=True),
    sa.Column('uri', sa.String(length=1024), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'identity', name='uq_lineage_artifacts_kind_identity')
    )
    with op.batch_alter_table('lineage_artifacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lineage_artifacts_digest'), ['digest'], unique=False)
        batch_op.create_index('ix_lineage_artifacts_name', ['name'], unique=False)
        batch_op.create_index('ix_lineage_artifacts_uri', ['uri'], unique=False)

    op.create_table('lineage_contexts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('type', 'name', name='uq_lineage_contexts_type_name')
    )

    op.create_table('lineage_executions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id'),
    sa.UniqueConstraint('type', 'external_id', name='uq_lineage_executions_type_external_id')
    )

    op.create_table('lineage_associations',
    sa.Column('context_id', sa.String(length=32), nullable=False),
    sa.Column('execution_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['context_id'], ['lineage_contexts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['execution_id'], ['lineage_executions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('context_id', 'execution_id')
    )
    with op.batch_alter_table('lineage_associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lineage_associations_execution_id'), ['execution_id'], unique=False)

    op.create_table('lineage_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('execution_id', sa.String(length=32), nullable=False),
    sa.Column('artifact_id', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['lineage_artifacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['execution_id'], ['lineage_executions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('execution_id', 'artifact_id', 'direction', name='uq_lineage_events_edge')
    )
    with op.batch_alter_table('lineage_events', schema=None) as batch_op:
        batch_op.create_index('ix_lineage_events_artifact', ['artifact_id', 'direction'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lineage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_events_artifact')

    op.drop_table('lineage_events')
    with op.batch_alter_table('lineage_associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lineage_associations_execution_id'))

    op.drop_table('lineage_associations')

    op.drop_table('lineage_executions')

    op.drop_table('lineage_contexts')
    with op.batch_alter_table('lineage_artifacts', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_artifacts_uri')
        batch_op.drop_index('ix_lineage_artifacts_name')
        batch_op.drop_index(batch_op.f('ix_lineage_artifacts_digest'))

    op.drop_table('lineage_artifacts')
