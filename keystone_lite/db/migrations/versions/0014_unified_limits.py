"""unified limits: registered limits and project (or domain) limits

``registered_limits`` hold a service's default limit for a resource (optionally per region),
unique per (service, region, resource name); ``limits`` override one for a project or a domain
(exactly one of them), at most once each, and go with their project or domain (ON DELETE
CASCADE). A registered limit with limits, and a service or region with registered limits, is
not deleted. Existing rows are untouched.

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'registered_limits',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('service_id', sa.String(64), nullable=False),
        sa.Column('region_id', sa.String(255), nullable=True),
        sa.Column('resource_name', sa.String(255), nullable=False),
        sa.Column('default_limit', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['service_id'], ['services.id'],
                                name='fk_registered_limits_service_id_services'),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'],
                                name='fk_registered_limits_region_id_regions'),
        sa.PrimaryKeyConstraint('id', name='pk_registered_limits'),
    )
    op.create_index('uq_registered_limits_resource', 'registered_limits',
                    ['service_id', 'region_id', 'resource_name'], unique=True)
    no_region = sa.text('region_id IS NULL')
    op.create_index('uq_registered_limits_resource_no_region', 'registered_limits',
                    ['service_id', 'resource_name'], unique=True,
                    sqlite_where=no_region, postgresql_where=no_region)
    op.create_table(
        'limits',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('registered_limit_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('domain_id', sa.String(64), nullable=True),
        sa.Column('resource_limit', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['registered_limit_id'], ['registered_limits.id'],
                                name='fk_limits_registered_limit_id_registered_limits'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_limits_project_id_projects'),
        sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], ondelete='CASCADE',
                                name='fk_limits_domain_id_domains'),
        sa.PrimaryKeyConstraint('id', name='pk_limits'),
        sa.UniqueConstraint('registered_limit_id', 'project_id',
                            name='uq_limits_registered_limit_id_project_id'),
        sa.UniqueConstraint('registered_limit_id', 'domain_id',
                            name='uq_limits_registered_limit_id_domain_id'),
    )
    op.create_index('ix_limits_project_id', 'limits', ['project_id'])


def downgrade():
    op.drop_table('limits')
    op.drop_table('registered_limits')
