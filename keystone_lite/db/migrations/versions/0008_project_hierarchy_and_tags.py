"""project hierarchy and project tags

``projects.parent_id`` is the project's parent project; NULL: the project is top-level (its
parent is its domain, which the API shows as ``parent_id``). Existing projects are all
top-level. ``project_tags`` holds Keystone's project tags, one row per (project, tag), gone with
the project.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('parent_id', sa.String(64), nullable=True))
        batch.create_foreign_key('fk_projects_parent_id_projects', 'projects', ['parent_id'],
                                 ['id'])
        batch.create_index('ix_projects_parent_id', ['parent_id'])
    op.create_table(
        'project_tags',
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_project_tags_project_id_projects'),
        sa.PrimaryKeyConstraint('project_id', 'name', name='pk_project_tags'))
    op.create_index('ix_project_tags_name', 'project_tags', ['name'])


def downgrade():
    op.drop_index('ix_project_tags_name', table_name='project_tags')
    op.drop_table('project_tags')
    with op.batch_alter_table('projects') as batch:
        batch.drop_index('ix_projects_parent_id')
        batch.drop_constraint('fk_projects_parent_id_projects', type_='foreignkey')
        batch.drop_column('parent_id')
