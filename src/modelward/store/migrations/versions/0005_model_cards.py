"""model cards

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_card_attachments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['digest'], ['blobs.digest'], ),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_card_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_card_attachments_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_card_attachments_version_pk'), ['version_pk'], unique=False)

    op.create_table('model_card_revisions',
    sa.Column('version_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('card', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=256), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_pk'], ['model_versions.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_pk', 'revision')
    )


def downgrade() -> None:
    op.drop_table('model_card_revisions')
    with op.batch_alter_table('model_card_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_card_attachments_version_pk'))
        batch_op.drop_index(batch_op.f('ix_model_card_attachments_digest'))

    op.drop_table('model_card_attachments')
