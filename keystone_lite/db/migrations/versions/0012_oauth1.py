"""oauth1: Keystone's OS-OAUTH1 consumers, request tokens and access tokens

``oauth1_consumers`` are the applications a user may delegate to; ``oauth1_request_tokens`` a
consumer's pending requests (authorized by a user, then exchanged); ``oauth1_access_tokens``
the delegations themselves (a user's roles on a project), from which ``oauth1`` tokens are made.
Tokens of both kinds go with their consumer, user or project. New tables: existing rows are
untouched.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _reference(table, column, referred):
    return sa.ForeignKeyConstraint([column], [f'{referred}.id'], ondelete='CASCADE',
                                   name=f'fk_{table}_{column}_{referred}')


def upgrade():
    op.create_table(
        'oauth1_consumers',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('secret', sa.String(64), nullable=False),
        sa.Column('extra', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_oauth1_consumers'),
    )
    table = 'oauth1_request_tokens'
    op.create_table(
        table,
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('secret', sa.String(64), nullable=False),
        sa.Column('consumer_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=True),
        sa.Column('verifier', sa.String(64), nullable=True),
        sa.Column('authorizing_user_id', sa.String(64), nullable=True),
        sa.Column('role_ids', sa.Text(), nullable=True),
        _reference(table, 'consumer_id', 'oauth1_consumers'),
        _reference(table, 'project_id', 'projects'),
        _reference(table, 'authorizing_user_id', 'users'),
        sa.PrimaryKeyConstraint('id', name=f'pk_{table}'),
    )
    op.create_index(f'ix_{table}_consumer_id', table, ['consumer_id'])
    table = 'oauth1_access_tokens'
    op.create_table(
        table,
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('secret', sa.String(64), nullable=False),
        sa.Column('consumer_id', sa.String(64), nullable=False),
        sa.Column('authorizing_user_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('role_ids', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=True),
        _reference(table, 'consumer_id', 'oauth1_consumers'),
        _reference(table, 'authorizing_user_id', 'users'),
        _reference(table, 'project_id', 'projects'),
        sa.PrimaryKeyConstraint('id', name=f'pk_{table}'),
    )
    op.create_index(f'ix_{table}_consumer_id', table, ['consumer_id'])
    op.create_index(f'ix_{table}_authorizing_user_id', table, ['authorizing_user_id'])


def downgrade():
    op.drop_table('oauth1_access_tokens')
    op.drop_table('oauth1_request_tokens')
    op.drop_table('oauth1_consumers')
