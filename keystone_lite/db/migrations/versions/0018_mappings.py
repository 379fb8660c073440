"""mapping rules for certificate logins

``mappings`` holds Keystone's federation mappings (``/v3/OS-FEDERATION/mappings``: an id chosen
by the client, the rules as JSON text, Keystone's ``schema_version``), which certificate logins
and the OAuth2 mTLS grant evaluate (keystone_lite/certificates). ``group_memberships.
via_mapping`` marks the memberships a mapped login made, which a later login may take away;
existing memberships were made through the API (false). Going down drops the table and the
flag; memberships made by mappings stay, as ordinary ones.

Revision ID: 0018
Revises: 0017
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mappings',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('rules', sa.Text(), nullable=False),
        sa.Column('schema_version', sa.String(5), nullable=False, server_default='1.0'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mappings')),
    )
    with op.batch_alter_table('group_memberships') as batch:
        batch.add_column(sa.Column('via_mapping', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('group_memberships') as batch:
        batch.drop_column('via_mapping')
    op.drop_table('mappings')
