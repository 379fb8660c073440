"""extra attributes of users and projects

``users.extra`` and ``projects.extra`` hold, as a JSON object in text, the attributes an API
client gave beyond the declared ones (Keystone keeps them, e.g. ``email``); NULL: none. Existing
rows have none.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('users', 'projects'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('extra', sa.Text(), nullable=True))


def downgrade():
    for table in ('projects', 'users'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('extra')
