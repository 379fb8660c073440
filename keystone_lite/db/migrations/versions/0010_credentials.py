"""credentials

``credentials`` holds Keystone's credentials (``/v3/credentials``, and the EC2 credentials
stored there as type ``ec2``): the blob only as ``encrypted_blob`` (Fernet, with the keys of
``[credential] key_repository``) and ``key_hash``, the hash of the primary key that encrypted
it. Rows go with their user or project (ON DELETE CASCADE). Existing rows are untouched: no
credential exists before.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'credentials',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('type', sa.String(255), nullable=False),
        sa.Column('encrypted_blob', sa.Text(), nullable=False),
        sa.Column('key_hash', sa.String(64), nullable=False),
        sa.Column('extra', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name='fk_credentials_user_id_users'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name='fk_credentials_project_id_projects'),
        sa.PrimaryKeyConstraint('id', name='pk_credentials'),
    )
    op.create_index('ix_credentials_user_id', 'credentials', ['user_id'])
    op.create_index('ix_credentials_project_id', 'credentials', ['project_id'])


def downgrade():
    op.drop_table('credentials')
