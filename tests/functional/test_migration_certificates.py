"""Migration 0017 (certificates) on a 0016 database: the certificates tokens were earned with
get ids that are never reused, even after a row goes (a token names its certificate by id:
reusing one would hand an old token to a new certificate), revocations can be stored, and the
migration goes back down to 0016."""
from __future__ import annotations

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import inspect

from keystone_lite.db import migrate


def insert_certificate(connection, thumbprint: str) -> int:
    connection.execute(sqlalchemy.text(
        "INSERT INTO certificates (thumbprint, issuer_dn, serial, subject_dn, not_after, "
        "keystone_x5t, first_used_at) VALUES (:thumbprint, 'CN=ca', '1f', 'CN=alice', 1, "
        "'x5t', 1)"), {"thumbprint": thumbprint})
    return connection.execute(sqlalchemy.text(
        "SELECT id FROM certificates WHERE thumbprint = :thumbprint"),
        {"thumbprint": thumbprint}).scalar()


def test_certificate_ids_are_never_reused_and_the_migration_goes_back_down(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0016")

    migrate.upgrade(engine, "0017")

    with engine.begin() as connection:
        first = insert_certificate(connection, "a" * 64)
        second = insert_certificate(connection, "b" * 64)
        connection.execute(sqlalchemy.text("DELETE FROM certificates WHERE id = :id"),
                           {"id": second})
        third = insert_certificate(connection, "c" * 64)
        connection.execute(sqlalchemy.text(
            "INSERT INTO certificate_revocations (id, serial, reason, revoked_at) "
            "VALUES ('r1', '1f', 'lost', 1)"))
    assert first < second < third
    with engine.begin() as connection, pytest.raises(sqlalchemy.exc.IntegrityError):
        insert_certificate(connection, "a" * 64)  # one row per certificate

    command.downgrade(migrate.alembic_config(engine), "0016")
    assert {"certificates", "certificate_revocations"}.isdisjoint(
        inspect(engine).get_table_names())
