"""Migration 0019 (the change log) on a 0018 database with data in it: existing rows stay,
changes can be logged, and the migration goes back down to 0018."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_the_change_log_keeps_rows_and_logs_changes(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0018")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))

    migrate.upgrade(engine, "0019")

    with Session(engine) as session, session.begin():
        assert session.get(models.Domain, "default").name == "Default"
        session.add(models.Change(generation=1, kind="user", key="u1"))
        session.add(models.Change(generation=1, kind="audit", key="a1"))

    command.downgrade(migrate.alembic_config(engine), "0018")
    assert "changes" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM domains")).scalar() == 1
