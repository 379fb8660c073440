"""Migration 0018 (mappings) on a 0017 database with data in it: memberships stay (made through
the API: not marked as a mapping's), mappings and marked memberships can then be stored, and the
migration goes back down to 0017 with every membership intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_mappings_keeps_memberships_unmarked_and_stores_mappings(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0017")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
            "VALUES ('alice', 'default', 'alice', true, '', 0)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO groups (id, domain_id, name, description) "
            "VALUES ('ops', 'default', 'ops', '')"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO group_memberships (user_id, group_id) VALUES ('alice', 'ops')"))

    migrate.upgrade(engine, "0018")

    with Session(engine) as session, session.begin():
        membership = session.get(models.GroupMembership, ("alice", "ops"))
        assert membership.via_mapping is False
        session.add(models.Mapping(id="oauth2_mapping", rules='[{"local": [], "remote": '
                                   '[{"type": "SSL_CLIENT_SUBJECT_DN_CN"}]}]'))
        session.add(models.Group(id="dev", domain_id="default", name="dev"))
        session.flush()
        session.add(models.GroupMembership(user_id="alice", group_id="dev", via_mapping=True))
    with Session(engine) as session:
        assert session.get(models.Mapping, "oauth2_mapping").schema_version == "1.0"

    # Down: the mapping's membership stays, as an ordinary one.
    command.downgrade(migrate.alembic_config(engine), "0017")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM group_memberships")).scalar() == 2
    assert "mappings" not in inspect(engine).get_table_names()
    assert "via_mapping" not in {column["name"] for column in
                                 inspect(engine).get_columns("group_memberships")}
