"""Migration 0011 (inherited grants) on a 0010 database with grants in it: existing user and
group grants become direct grants, an inherited grant of the same role on the same target can
sit beside them, and the migration goes back down to 0010 keeping the direct grants and
dropping the inherited ones (which that schema cannot hold)."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models
from keystone_lite.identity import store

GRANTS = {"role_assignments": "user_id", "group_role_assignments": "group_id"}


def test_upgrade_to_inherited_grants_keeps_grants_direct_and_takes_inherited_ones(
        migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0010")
    with engine.begin() as connection:
        for statement in (
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES ('default', 'Default', '', true)",
                "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
                "VALUES ('u1', 'default', 'alice', true, '', 0)",
                "INSERT INTO groups (id, domain_id, name, description) "
                "VALUES ('g1', 'default', 'devs', '')",
                "INSERT INTO group_memberships (user_id, group_id) VALUES ('u1', 'g1')",
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
                "VALUES ('p1', 'default', 'root', '', true, 0)",
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision,"
                " parent_id) VALUES ('p2', 'default', 'leaf', '', true, 0, 'p1')",
                "INSERT INTO roles (id, name, description) VALUES ('r1', 'member', '')",
                "INSERT INTO roles (id, name, description) VALUES ('r2', 'auditor', '')",
                "INSERT INTO role_assignments (user_id, target_type, target_id, role_id) "
                "VALUES ('u1', 'project', 'p1', 'r1')",
                "INSERT INTO group_role_assignments (group_id, target_type, target_id, "
                "role_id) VALUES ('g1', 'domain', 'default', 'r2')"):
            connection.execute(sqlalchemy.text(statement))

    migrate.upgrade(engine, "0011")

    with Session(engine) as session, session.begin():
        assert [role.name for role in store.roles_on(session, "u1", "project", "p1")] == [
            "member"]
        assert [role.name for role in store.roles_on(session, "u1", "domain", "default")] == [
            "auditor"]
        assert store.roles_on(session, "u1", "project", "p2") == []
        # The same role on the same targets, inherited: new rows beside the direct ones.
        store.grant(session, "u1", "project", "p1", "r1", inherited=True)
        store.grant(session, "g1", "domain", "default", "r2", actor="group", inherited=True)
    with Session(engine) as session:
        assert [role.name for role in store.roles_on(session, "u1", "project", "p2")] == [
            "auditor", "member"]
        assert session.scalar(sqlalchemy.select(sqlalchemy.func.count()).select_from(
            models.RoleAssignment)) == 2

    command.downgrade(migrate.alembic_config(engine), "0010")
    with engine.connect() as connection:
        for table, actor in GRANTS.items():
            assert connection.execute(sqlalchemy.text(
                f"SELECT {actor}, target_id, role_id FROM {table}")).all() == [
                ("u1", "p1", "r1") if actor == "user_id" else ("g1", "default", "r2")]
    for table in GRANTS:
        assert "inherited" not in {column["name"] for column in inspect(engine).get_columns(
            table)}
