"""Migration 0017 (certificates and certificate revocations) on a 0016 database with data in
it: existing rows stay, certificates and revocations can then be stored with their unique
thumbprints and references, and the migration goes back down to 0016."""
from __future__ import annotations

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_certificates_keeps_existing_rows_and_refuses_duplicate_references(
        migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0016")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))

    migrate.upgrade(engine, "0017")

    certificate = dict(thumbprint="ab" * 32, reference="ab" * 8, issuer_dn="CN=CA",
                       serial="f", subject_dn="CN=alice", not_after=1, keystone_x5t="x",
                       first_used_at=0)
    with Session(engine) as session, session.begin():
        assert session.get(models.Domain, "default").name == "Default"
        session.add(models.Certificate(**certificate))
        session.add(models.CertificateRevocation(id="r1", serial="f", reason="",
                                                 revoked_at=2))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        with Session(engine) as session, session.begin():
            session.add(models.Certificate(**{**certificate, "thumbprint": "ab" * 31 + "cd"}))

    command.downgrade(migrate.alembic_config(engine), "0016")
    assert {"certificates", "certificate_revocations"}.isdisjoint(
        inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM domains")).scalar() == 1
