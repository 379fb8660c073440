"""application credentials and access rules

``application_credentials`` are a user's secrets (hashed) for one project, names unique per
user, gone with the user or the project (ON DELETE CASCADE); ``application_credential_roles``
name the roles each carries (no foreign key to ``roles``: a deleted role keeps failing the
credential rather than shrinking it). ``access_rules`` are a user's (service, method, path)
rules, shared by the credentials that name them (``application_credential_access_rules``).
Existing rows are untouched: no application credential exists before.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'application_credentials',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('secret_hash', sa.String(255), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=True),
        sa.Column('unrestricted', sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name='fk_application_credentials_user_id_users'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_application_credentials_project_id_projects'),
        sa.PrimaryKeyConstraint('id', name='pk_application_credentials'),
        sa.UniqueConstraint('user_id', 'name',
                            name='uq_application_credentials_user_id_name'),
    )
    op.create_index('ix_application_credentials_project_id', 'application_credentials',
                    ['project_id'])
    op.create_table(
        'application_credential_roles',
        sa.Column('application_credential_id', sa.String(64), nullable=False),
        sa.Column('role_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ['application_credential_id'], ['application_credentials.id'], ondelete='CASCADE',
            name='fk_app_cred_roles_app_cred'),
        sa.PrimaryKeyConstraint('application_credential_id', 'role_id',
                                name='pk_application_credential_roles'),
    )
    op.create_table(
        'access_rules',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('service', sa.String(64), nullable=False),
        sa.Column('path', sa.String(255), nullable=False),
        sa.Column('method', sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name='fk_access_rules_user_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_access_rules'),
        sa.UniqueConstraint('user_id', 'service', 'path', 'method',
                            name='uq_access_rules_user_id_service_path_method'),
    )
    op.create_table(
        'application_credential_access_rules',
        sa.Column('application_credential_id', sa.String(64), nullable=False),
        sa.Column('access_rule_id', sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ['application_credential_id'], ['application_credentials.id'], ondelete='CASCADE',
            name='fk_app_cred_access_rules_app_cred'),
        sa.ForeignKeyConstraint(
            ['access_rule_id'], ['access_rules.id'],
            name='fk_app_cred_access_rules_access_rule'),
        sa.PrimaryKeyConstraint('application_credential_id', 'access_rule_id',
                                name='pk_app_cred_access_rules'),
    )
    op.create_index('ix_app_cred_access_rules_access_rule_id',
                    'application_credential_access_rules', ['access_rule_id'])


def downgrade():
    op.drop_index('ix_app_cred_access_rules_access_rule_id',
                  table_name='application_credential_access_rules')
    op.drop_table('application_credential_access_rules')
    op.drop_table('access_rules')
    op.drop_table('application_credential_roles')
    op.drop_index('ix_application_credentials_project_id',
                  table_name='application_credentials')
    op.drop_table('application_credentials')
