"""Migration 0008 (project hierarchy and tags) on a 0005 database with data in it: existing
projects become top-level with no tags, take a parent and tags afterwards, and the migration
goes back down to 0005 with the rows intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_project_tree_and_tags_keeps_existing_projects(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        for project_id, name in (("p1", "demo"), ("p2", "other")):
            connection.execute(sqlalchemy.text(
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision,"
                " extra) VALUES (:id, 'default', :name, '', true, 2, '{\"a\": 1}')"),
                {"id": project_id, "name": name})

    migrate.upgrade(engine, "0008")

    with Session(engine) as session, session.begin():
        demo, other = session.get(models.Project, "p1"), session.get(models.Project, "p2")
        assert (demo.name, demo.revision, demo.extra, demo.parent_id) == (
            "demo", 2, '{"a": 1}', None)
        assert session.scalars(sqlalchemy.select(models.ProjectTag)).all() == []
        other.parent_id = "p1"
        session.add(models.ProjectTag(project_id="p1", name="kept"))
    with Session(engine) as session:
        assert session.get(models.Project, "p2").parent_id == "p1"
        assert session.get(models.ProjectTag, ("p1", "kept")) is not None

    command.downgrade(migrate.alembic_config(engine), "0005")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM projects")).scalar() == 2
    assert "parent_id" not in {column["name"]
                               for column in inspect(engine).get_columns("projects")}
    assert "project_tags" not in inspect(engine).get_table_names()
