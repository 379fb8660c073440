"""inherited grants (OS-INHERIT)

``role_assignments.inherited`` and ``group_role_assignments.inherited``: a grant flagged
inherited gives its role on every project under its target (a domain's projects, a project's
subtree) and not on the target itself. The flag joins the primary key, as in Keystone's
assignment table: an inherited grant and the direct grant of the same role on the same target
are two rows. Existing grants are direct (false). Going down deletes inherited grants, which
the older schema cannot hold.

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# table -> the column naming who holds the grant
TABLES = {'role_assignments': 'user_id', 'group_role_assignments': 'group_id'}


def upgrade():
    for table, actor in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('inherited', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.create_primary_key(f'pk_{table}', [actor, 'target_type', 'target_id',
                                                     'role_id', 'inherited'])


def downgrade():
    for table, actor in TABLES.items():
        op.execute(sa.text(f'DELETE FROM {table} WHERE inherited = :yes').bindparams(
            yes=True))
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.create_primary_key(f'pk_{table}', [actor, 'target_type', 'target_id',
                                                     'role_id'])
            batch.drop_column('inherited')
