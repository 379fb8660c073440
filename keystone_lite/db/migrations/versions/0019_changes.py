"""the change log beside the change counter

``changes`` names what each value of the counter changed: a user, a project, a revoked audit
id, or everything (``all``) for writes the hooks cannot attribute. A process that reads a new
counter value then drops only what changed since the value it had
(keystone_lite.db.generation). Existing rows are untouched; the log starts empty (a process
that finds it does not reach back empties its caches, as before).

Revision ID: 0019
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'changes',
        sa.Column('generation', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('key', sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint('generation', 'kind', 'key', name=op.f('pk_changes')),
    )


def downgrade():
    op.drop_table('changes')
