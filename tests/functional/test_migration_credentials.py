"""Migration 0010 (credentials) on a 0009 database with users and projects in it: the table
comes empty, takes credentials that go with their user or project (ON DELETE CASCADE on both
backends), and the migration goes back down to 0009 with the other rows intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_credentials_keeps_users_and_cascades_their_deletion(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0009")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        for user_id in ("u1", "u2"):
            connection.execute(sqlalchemy.text(
                "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
                "VALUES (:id, 'default', :id, true, '', 3)"), {"id": user_id})
        connection.execute(sqlalchemy.text(
            "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
            "VALUES ('p1', 'default', 'demo', '', true, 0)"))

    migrate.upgrade(engine, "0010")

    with Session(engine) as session, session.begin():
        assert session.get(models.User, "u1").revision == 3
        assert session.scalars(sqlalchemy.select(models.Credential)).all() == []
        for credential_id, user_id, project_id in (("c1", "u1", None), ("c2", "u2", "p1"),
                                                    ("c3", "u2", None)):
            session.add(models.Credential(id=credential_id, user_id=user_id,
                                          project_id=project_id, type="cert",
                                          encrypted_blob="gAAAA...", key_hash="0" * 40))
    # The database itself deletes a credential with its user or its project.
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM users WHERE id = 'u1'"))
        connection.execute(sqlalchemy.text("DELETE FROM projects WHERE id = 'p1'"))
    with Session(engine) as session:
        assert session.scalars(sqlalchemy.select(models.Credential.id)).all() == ["c3"]

    command.downgrade(migrate.alembic_config(engine), "0009")
    assert "credentials" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM users")).scalar() == 1
