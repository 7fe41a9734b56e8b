"""registry: registered models, versions, files, tags, aliases and alias history

Revision ID: 0004
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registered_models',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('last_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('model_alias_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=256), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_alias_events', schema=None) as batch_op:
        batch_op.create_index('ix_model_alias_events_model_alias_at', ['model_id', 'alias', 'at'], unique=False)

    op.create_table('model_versions',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('source_run_id', sa.String(length=32), nullable=True),
    sa.Column('artifact_digest', sa.String(length=64), nullable=False),
    sa.Column('flavor', sa.String(length=64), nullable=True),
    sa.Column('signature', sa.JSON(), nullable=True),
    sa.Column('requirements', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('card', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('model_id', 'version', name='uq_model_versions_model_version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_artifact_digest'), ['artifact_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_versions_source_run_id'), ['source_run_id'], unique=False)

    op.create_table('registered_model_tags',
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key')
    )
    op.create_table('model_aliases',
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['registered_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ),
    sa.PrimaryKeyConstraint('model_id', 'alias')
    )
    with op.batch_alter_table('model_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_aliases_version_pk'), ['version_pk'], unique=False)

    op.create_table('model_version_files',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['digest'], ['blobs.digest'], ),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk', 'path')
    )
    with op.batch_alter_table('model_version_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_version_files_digest'), ['digest'], unique=False)

    op.create_table('model_version_tags',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk', 'key')
    )


def downgrade() -> None:
    op.drop_table('model_version_tags')
    with op.batch_alter_table('model_version_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_version_files_digest'))

    op.drop_table('model_version_files')
    with op.batch_alter_table('model_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_aliases_version_pk'))

    op.drop_table('model_aliases')
    op.drop_table('registered_model_tags')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_source_run_id'))
        batch_op.drop_index(batch_op.f('ix_model_versions_artifact_digest'))

    op.drop_table('model_versions')
    with op.batch_alter_table('model_alias_events', schema=None) as batch_op:
        batch_op.drop_index('ix_model_alias_events_model_alias_at')

    op.drop_table('model_alias_events')
    op.drop_table('registered_models')
