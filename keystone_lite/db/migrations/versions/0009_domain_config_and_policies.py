"""domain configurations and policy blobs

``domain_config`` holds Keystone's domain-specific configuration options, one row per (domain,
group, option) with the option's JSON value; ``sensitive`` marks the options (the LDAP
password) that are stored but never shown. Gone with the domain. ``policies`` holds the blobs
of Keystone's deprecated policy API (``/v3/policies``) with their extra attributes.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'domain_config',
        sa.Column('domain_id', sa.String(64), nullable=False),
        sa.Column('group', sa.String(255), nullable=False),
        sa.Column('option', sa.String(255), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('sensitive', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], ondelete='CASCADE',
                                name='fk_domain_config_domain_id_domains'),
        sa.PrimaryKeyConstraint('domain_id', 'group', 'option', name='pk_domain_config'))
    op.create_table(
        'policies',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('type', sa.String(255), nullable=False),
        sa.Column('blob', sa.Text(), nullable=False),
        sa.Column('extra', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_policies'))


def downgrade():
    op.drop_table('policies')
    op.drop_table('domain_config')
