"""implied roles and domain-specific roles

``roles.domain_id``: NULL for a global role, else the domain that owns the role (deleted with
it). Names are unique per domain, and among global roles (a partial index: NULLs are distinct
in a UNIQUE constraint). ``implied_roles`` holds the rules ``prior ⇒ implied``.

Existing deployments relied on keystone_lite's policy expanding ``admin ⇒ manager ⇒ member ⇒
reader`` by name; tokens now carry implied roles instead, so the same rules are added among the
global roles that have those names (what keystone-manage bootstrap creates).

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

PERSONAS = (('admin', 'manager'), ('manager', 'member'), ('member', 'reader'))


def upgrade():
    with op.batch_alter_table('roles') as batch:
        batch.drop_constraint('uq_roles_name', type_='unique')
        batch.add_column(sa.Column('domain_id', sa.String(64), nullable=True))
        batch.create_foreign_key('fk_roles_domain_id_domains', 'domains', ['domain_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_unique_constraint('uq_roles_domain_id_name', ['domain_id', 'name'])
    op.create_index('uq_roles_global_name', 'roles', ['name'], unique=True,
                    sqlite_where=sa.text('domain_id IS NULL'),
                    postgresql_where=sa.text('domain_id IS NULL'))
    op.create_table(
        'implied_roles',
        sa.Column('prior_role_id', sa.String(64), nullable=False),
        sa.Column('implied_role_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['prior_role_id'], ['roles.id'], ondelete='CASCADE',
                                name='fk_implied_roles_prior_role_id_roles'),
        sa.ForeignKeyConstraint(['implied_role_id'], ['roles.id'], ondelete='CASCADE',
                                name='fk_implied_roles_implied_role_id_roles'),
        sa.PrimaryKeyConstraint('prior_role_id', 'implied_role_id', name='pk_implied_roles'))
    roles = sa.table('roles', sa.column('id'), sa.column('name'), sa.column('domain_id'))
    connection = op.get_bind()
    ids = dict(connection.execute(sa.select(roles.c.name, roles.c.id).where(
        roles.c.domain_id.is_(None))).all())
    rules = [{'prior_role_id': ids[prior], 'implied_role_id': ids[implied]}
             for prior, implied in PERSONAS if prior in ids and implied in ids]
    if rules:
        op.bulk_insert(sa.table('implied_roles', sa.column('prior_role_id'),
                                sa.column('implied_role_id')), rules)


def downgrade():
    op.drop_table('implied_roles')
    op.drop_index('uq_roles_global_name', table_name='roles')
    with op.batch_alter_table('roles') as batch:
        batch.drop_constraint('uq_roles_domain_id_name', type_='unique')
        batch.drop_constraint('fk_roles_domain_id_domains', type_='foreignkey')
        batch.drop_column('domain_id')
        batch.create_unique_constraint('uq_roles_name', ['name'])
