"""governance

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('governance_policies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=300), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('yaml', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope', 'version', name='uq_governance_policies_scope_version')
    )
    with op.batch_alter_table('governance_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_policies_scope'), ['scope'], unique=False)

    op.create_table('governance_business_impact',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('expected_revenue_impact', sa.Text(), nullable=True),
    sa.Column('kpis', sa.JSON(), nullable=False),
    sa.Column('affected_users', sa.Text(), nullable=True),
    sa.Column('reviewer', sa.String(length=256), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk')
    )
    op.create_table('governance_checklist',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item', sa.String(length=512), nullable=False),
    sa.Column('checked', sa.Boolean(), nullable=False),
    sa.Column('checked_by', sa.String(length=256), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk', 'item')
    )
    op.create_table('governance_evaluations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('artifact_digest', sa.String(length=64), nullable=False),
    sa.Column('policy_versions', sa.JSON(), nullable=False),
    sa.Column('dataset', sa.JSON(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('governance_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_evaluations_version_pk'), ['version_pk'], unique=False)

    op.create_table('governance_reviews',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=False),
    sa.Column('reviewer', sa.String(length=256), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('artifact_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('governance_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_reviews_version_pk'), ['version_pk'], unique=False)

    op.create_table('governance_risk',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('rating', sa.String(length=16), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('mitigation', sa.Text(), nullable=True),
    sa.Column('assessed_by', sa.String(length=256), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk', 'category')
    )


def downgrade() -> None:
    op.drop_table('governance_risk')
    with op.batch_alter_table('governance_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_reviews_version_pk'))

    op.drop_table('governance_reviews')
    with op.batch_alter_table('governance_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_evaluations_version_pk'))

    op.drop_table('governance_evaluations')
    op.drop_table('governance_checklist')
    op.drop_table('governance_business_impact')
    with op.batch_alter_table('governance_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_policies_scope'))

    op.drop_table('governance_policies')
