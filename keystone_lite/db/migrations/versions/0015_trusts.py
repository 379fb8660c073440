"""trusts and the roles they delegate

``trusts`` holds Keystone's OS-TRUST trusts (expiry in µs since the epoch, NULL: never;
``remaining_uses`` NULL: unlimited); ``trust_roles`` the roles each delegates. A trust goes
with its trustor, trustee, project or the trust it was redelegated from, and a trust role with
its trust or role (ON DELETE CASCADE). Existing rows are untouched: no trust exists before.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'trusts',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('trustor_user_id', sa.String(64), nullable=False),
        sa.Column('trustee_user_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('impersonation', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=True),
        sa.Column('remaining_uses', sa.Integer(), nullable=True),
        sa.Column('redelegated_trust_id', sa.String(64), nullable=True),
        sa.Column('redelegation_count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['trustor_user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_trusts_trustor_user_id_users')),
        sa.ForeignKeyConstraint(['trustee_user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_trusts_trustee_user_id_users')),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name=op.f('fk_trusts_project_id_projects')),
        sa.ForeignKeyConstraint(['redelegated_trust_id'], ['trusts.id'], ondelete='CASCADE',
                                name=op.f('fk_trusts_redelegated_trust_id_trusts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trusts')),
    )
    for column in ('trustor_user_id', 'trustee_user_id', 'project_id', 'redelegated_trust_id'):
        op.create_index(f'ix_trusts_{column}', 'trusts', [column])
    op.create_table(
        'trust_roles',
        sa.Column('trust_id', sa.String(64), nullable=False),
        sa.Column('role_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['trust_id'], ['trusts.id'], ondelete='CASCADE',
                                name=op.f('fk_trust_roles_trust_id_trusts')),
        sa.ForeignKeyConstraint(['role_id'], ['roles.id'], ondelete='CASCADE',
                                name=op.f('fk_trust_roles_role_id_roles')),
        sa.PrimaryKeyConstraint('trust_id', 'role_id', name=op.f('pk_trust_roles')),
    )


def downgrade():
    op.drop_table('trust_roles')
    for column in ('trustor_user_id', 'trustee_user_id', 'project_id', 'redelegated_trust_id'):
        op.drop_index(f'ix_trusts_{column}', table_name='trusts')
    op.drop_table('trusts')
