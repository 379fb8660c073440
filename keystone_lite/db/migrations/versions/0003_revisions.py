"""revision counters on users and projects

A token carries the revision of its user (and of its project) read before authentication;
disabling, re-enabling or changing the password of the user (or disabling the project) moves the
revision in the same transaction, so a token earned across such a change cannot validate after
it, whatever the clocks of the nodes say.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('users', 'projects'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('revision', sa.BigInteger(), nullable=False,
                                       server_default='0'))


def downgrade():
    for table in ('users', 'projects'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('revision')
