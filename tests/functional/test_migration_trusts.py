"""Migration 0015 (trusts) on a 0014 database with data in it: the users, projects and roles
stay, trusts can then be stored and go with what they stand on, and the migration goes back
down to 0014 with the rows intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_trusts_keeps_existing_rows_and_trusts_go_with_their_users(
        migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0014")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        for user in ("alice", "bob"):
            connection.execute(sqlalchemy.text(
                "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
                "VALUES (:id, 'default', :id, true, '', 3)"), {"id": user})
        connection.execute(sqlalchemy.text(
            "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
            "VALUES ('p1', 'default', 'demo', '', true, 0)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO roles (id, name, description) VALUES ('r1', 'member', '')"))

    migrate.upgrade(engine, "0015")

    with Session(engine) as session, session.begin():
        assert session.get(models.User, "alice").revision == 3
        assert session.scalars(sqlalchemy.select(models.Trust)).all() == []
        session.add(models.Trust(id="t1", trustor_user_id="alice", trustee_user_id="bob",
                                 project_id="p1", impersonation=True, remaining_uses=2))
        session.flush()
        session.add(models.Trust(id="t2", trustor_user_id="bob", trustee_user_id="alice",
                                 project_id="p1", impersonation=False,
                                 redelegated_trust_id="t1"))
        session.add(models.TrustRole(trust_id="t1", role_id="r1"))
    with Session(engine) as session:
        trust = session.get(models.Trust, "t1")
        assert (trust.redelegation_count, trust.expires_at, trust.remaining_uses) == (0, None, 2)
    # The foreign keys' cascade backs the explicit deletes (identity/trusts.py).
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM users WHERE id = 'alice'"))
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM trusts")).scalar() == 0
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM trust_roles")).scalar() == 0

    command.downgrade(migrate.alembic_config(engine), "0014")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM users")).scalar() == 1
    assert {"trusts", "trust_roles"}.isdisjoint(inspect(engine).get_table_names())
