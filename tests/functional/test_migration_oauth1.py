"""Migration 0012 (OAuth1) on a 0011 database with data in it: the identity rows stay as they
were, the OAuth1 tables take consumers and tokens that go with their user, and the migration goes
back down to 0011 with the identity rows intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models

OAUTH1_TABLES = {"oauth1_consumers", "oauth1_request_tokens", "oauth1_access_tokens"}


def test_upgrade_to_oauth1_keeps_the_identity_and_adds_working_tables(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0011")
    with engine.begin() as connection:
        for statement in (
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES ('default', 'Default', '', true)",
                "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
                "VALUES ('u1', 'default', 'alice', true, '', 3)",
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
                "VALUES ('p1', 'default', 'demo', '', true, 0)",
                "INSERT INTO roles (id, name, description) VALUES ('r1', 'member', '')",
                "INSERT INTO role_assignments (user_id, target_type, target_id, role_id) "
                "VALUES ('u1', 'project', 'p1', 'r1')"):
            connection.execute(sqlalchemy.text(statement))

    migrate.upgrade(engine, "0012")

    assert OAUTH1_TABLES <= set(inspect(engine).get_table_names())
    with Session(engine) as session, session.begin():
        assert session.get(models.User, "u1").revision == 3
        session.add(models.OAuth1Consumer(id="c1", secret="s" * 32))
        session.flush()
        session.add(models.OAuth1RequestToken(id="rt", secret="s", consumer_id="c1",
                                              project_id="p1"))
        session.add(models.OAuth1AccessToken(id="at", secret="s", consumer_id="c1",
                                             authorizing_user_id="u1", project_id="p1",
                                             role_ids='["r1"]'))
    with Session(engine) as session, session.begin():
        session.delete(session.get(models.User, "u1"))  # its access token goes with it
    with Session(engine) as session:
        assert session.scalars(select(models.OAuth1AccessToken)).all() == []
        assert session.get(models.OAuth1RequestToken, "rt").consumer_id == "c1"

    command.downgrade(migrate.alembic_config(engine), "0011")
    assert not OAUTH1_TABLES & set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM projects")).scalar() == 1
