"""endpoint groups and project endpoint filtering (Keystone's OS-EP-FILTER)

``endpoint_groups`` select endpoints by ``filters`` (JSON: interface, service_id, region_id);
``project_endpoints`` and ``project_endpoint_groups`` associate endpoints and endpoint groups
with projects, whose tokens then show only those endpoints in their catalog. Associations go with
their project, endpoint or endpoint group (ON DELETE CASCADE). Existing rows are untouched: no
association exists before, so every catalog stays whole.

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'endpoint_groups',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_endpoint_groups'),
    )
    op.create_table(
        'project_endpoints',
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('endpoint_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_project_endpoints_project_id_projects'),
        sa.ForeignKeyConstraint(['endpoint_id'], ['endpoints.id'], ondelete='CASCADE',
                                name='fk_project_endpoints_endpoint_id_endpoints'),
        sa.PrimaryKeyConstraint('project_id', 'endpoint_id', name='pk_project_endpoints'),
    )
    op.create_index('ix_project_endpoints_endpoint_id', 'project_endpoints', ['endpoint_id'])
    op.create_table(
        'project_endpoint_groups',
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('endpoint_group_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_project_endpoint_groups_project_id_projects'),
        sa.ForeignKeyConstraint(
            ['endpoint_group_id'], ['endpoint_groups.id'], ondelete='CASCADE',
            name='fk_project_endpoint_groups_endpoint_group_id_endpoint_groups'),
        sa.PrimaryKeyConstraint('project_id', 'endpoint_group_id',
                                name='pk_project_endpoint_groups'),
    )
    op.create_index('ix_project_endpoint_groups_endpoint_group_id', 'project_endpoint_groups',
                    ['endpoint_group_id'])


def downgrade():
    op.drop_table('project_endpoint_groups')
    op.drop_table('project_endpoints')
    op.drop_table('endpoint_groups')
