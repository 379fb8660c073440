"""groups, group memberships and group role assignments

``groups`` are per domain (names unique in it); ``group_memberships`` put users in them and
``group_role_assignments`` grant them roles on a project, a domain or the system, with the same
key as ``role_assignments`` has for users. Memberships and group grants go with their user,
group or role (ON DELETE CASCADE). Existing rows are untouched: no group exists before.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'groups',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('domain_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['domain_id'], ['domains.id'],
                                name=op.f('fk_groups_domain_id_domains')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
        sa.UniqueConstraint('domain_id', 'name', name='uq_groups_domain_id_name'),
    )
    op.create_table(
        'group_memberships',
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('group_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_group_memberships_user_id_users')),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE',
                                name=op.f('fk_group_memberships_group_id_groups')),
        sa.PrimaryKeyConstraint('user_id', 'group_id', name=op.f('pk_group_memberships')),
    )
    op.create_index('ix_group_memberships_group_id', 'group_memberships', ['group_id'])
    op.create_table(
        'group_role_assignments',
        sa.Column('group_id', sa.String(64), nullable=False),
        sa.Column('target_type', sa.String(16), nullable=False),
        sa.Column('target_id', sa.String(64), nullable=False),
        sa.Column('role_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE',
                                name=op.f('fk_group_role_assignments_group_id_groups')),
        sa.ForeignKeyConstraint(['role_id'], ['roles.id'], ondelete='CASCADE',
                                name=op.f('fk_group_role_assignments_role_id_roles')),
        sa.PrimaryKeyConstraint('group_id', 'target_type', 'target_id', 'role_id',
                                name=op.f('pk_group_role_assignments')),
    )
    op.create_index('ix_group_role_assignments_target', 'group_role_assignments',
                    ['target_type', 'target_id'])


def downgrade():
    op.drop_table('group_role_assignments')
    op.drop_table('group_memberships')
    op.drop_table('groups')
