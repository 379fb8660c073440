"""failed-login counts (lockout), user options and password expiry

``login_failures`` holds the consecutive failed password logins of a user; it is written in
transactions of its own and does not move the change counter. ``user_options`` holds Keystone's
user options (``ignore_lockout_failure_attempts``, ``ignore_password_expiry``), one row per
option set. ``users.password_expires_at`` (µs since the epoch; NULL: never) is set with the
password when ``[security_compliance] password_expires_days`` asks for it.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_options',
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_user_options_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', 'name', name=op.f('pk_user_options')),
    )
    op.create_table(
        'login_failures',
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_login_failures_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_login_failures')),
    )
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('password_expires_at', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_expires_at')
    op.drop_table('login_failures')
    op.drop_table('user_options')
