"""certificates that earned tokens, and certificate revocations

``certificates`` remembers each client certificate that earned a token (the token carries the
row's id, never reused); ``certificate_revocations`` names revoked certificates by
thumbprint or serial. Existing rows are untouched: tokens issued before carry no certificate.

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'certificates',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('thumbprint', sa.String(64), nullable=False),
        sa.Column('issuer_dn', sa.Text(), nullable=False),
        sa.Column('serial', sa.String(64), nullable=False),
        sa.Column('subject_dn', sa.Text(), nullable=False),
        sa.Column('not_after', sa.BigInteger(), nullable=False),
        sa.Column('keystone_x5t', sa.String(44), nullable=False),
        sa.Column('first_used_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
        sa.UniqueConstraint('thumbprint', name=op.f('uq_certificates_thumbprint')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_certificates_serial', 'certificates', ['serial'])
    op.create_table(
        'certificate_revocations',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('thumbprint', sa.String(64), nullable=True),
        sa.Column('serial', sa.String(64), nullable=True),
        sa.Column('issuer_dn', sa.Text(), nullable=True),
        sa.Column('reason', sa.String(255), nullable=False),
        sa.Column('revoked_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_revocations')),
        sa.UniqueConstraint('thumbprint', name=op.f('uq_certificate_revocations_thumbprint')),
    )
    op.create_index('ix_certificate_revocations_serial', 'certificate_revocations', ['serial'])


def downgrade():
    op.drop_index('ix_certificate_revocations_serial', table_name='certificate_revocations')
    op.drop_table('certificate_revocations')
    op.drop_index('ix_certificates_serial', table_name='certificates')
    op.drop_table('certificates')
