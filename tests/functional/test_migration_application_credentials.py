"""Migration 0016 (application credentials and access rules) on a 0015 database with data in
it: existing users, projects and grants are untouched, credentials can then be stored and go
with their user or project, and the migration goes back down to 0015 with the rows intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models

TABLES = {"application_credentials", "application_credential_roles", "access_rules",
          "application_credential_access_rules"}


def test_upgrade_to_application_credentials_keeps_existing_rows(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0015")
    with engine.begin() as connection:
        for statement in (
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES ('default', 'Default', '', true)",
                "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
                "VALUES ('u1', 'default', 'alice', true, '', 3)",
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
                "VALUES ('p1', 'default', 'demo', '', true, 1)",
                "INSERT INTO roles (id, name, description) VALUES ('r1', 'member', '')",
                "INSERT INTO role_assignments (user_id, target_type, target_id, role_id) "
                "VALUES ('u1', 'project', 'p1', 'r1')"):
            connection.execute(sqlalchemy.text(statement))

    migrate.upgrade(engine, "0016")

    with Session(engine) as session, session.begin():
        assert session.get(models.User, "u1").revision == 3
        assert session.get(models.RoleAssignment, ("u1", "project", "p1", "r1", False)) is not None
        session.add(models.ApplicationCredential(id="c1", user_id="u1", project_id="p1",
                                                 name="cron", secret_hash="$argon2id$x"))
        session.add(models.AccessRule(id="a1", user_id="u1", service="compute",
                                      path="/servers", method="GET"))
        session.flush()
        session.add(models.ApplicationCredentialRole(application_credential_id="c1",
                                                     role_id="r1"))
        session.add(models.ApplicationCredentialAccessRule(application_credential_id="c1",
                                                           access_rule_id="a1"))
    with engine.begin() as connection:  # the project goes, its credential with it
        connection.execute(sqlalchemy.text("DELETE FROM role_assignments"))
        connection.execute(sqlalchemy.text("DELETE FROM projects WHERE id = 'p1'"))
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM application_credential_roles")).scalar() == 0
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM access_rules")).scalar() == 1

    command.downgrade(migrate.alembic_config(engine), "0015")
    assert not TABLES & set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT name FROM users")).scalar() == "alice"
