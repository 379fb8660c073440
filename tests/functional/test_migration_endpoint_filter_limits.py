"""Migrations 0013 (OS-EP-FILTER) and 0014 (unified limits) on a 0012 database with data in it:
existing projects, services and endpoints are kept and take associations and limits afterwards,
which go with their project; the migrations go back down to 0012 with the rows intact."""
from __future__ import annotations

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_to_endpoint_filter_and_limits_keeps_existing_rows(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0012")
    with engine.begin() as connection:
        for statement in (
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES ('default', 'Default', '', true)",
                "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
                "VALUES ('p1', 'default', 'demo', '', true, 0)",
                "INSERT INTO regions (id, description) VALUES ('RegionOne', '')",
                "INSERT INTO services (id, type, name, description, enabled) "
                "VALUES ('s1', 'compute', 'nova', '', true)",
                "INSERT INTO endpoints (id, service_id, region_id, interface, url, enabled) "
                "VALUES ('e1', 's1', 'RegionOne', 'public', 'http://nova', true)"):
            connection.execute(sqlalchemy.text(statement))

    migrate.upgrade(engine, "0014")

    with Session(engine) as session, session.begin():
        assert session.get(models.Endpoint, "e1").url == "http://nova"
        session.add(models.EndpointGroup(id="g1", name="public",
                                         filters={"interface": "public"}))
        session.add(models.ProjectEndpoint(project_id="p1", endpoint_id="e1"))
        session.add(models.ProjectEndpointGroup(project_id="p1", endpoint_group_id="g1"))
        session.add(models.RegisteredLimit(id="r1", service_id="s1", region_id="RegionOne",
                                           resource_name="cores", default_limit=10))
        session.flush()
        session.add(models.Limit(id="l1", registered_limit_id="r1", project_id="p1",
                                 resource_limit=5))
    with Session(engine) as session:
        assert session.get(models.EndpointGroup, "g1").filters == {"interface": "public"}
        assert session.get(models.Limit, "l1").project_domain_id == "default"

    command.downgrade(migrate.alembic_config(engine), "0012")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM endpoints")).scalar() == 1
    assert not {"endpoint_groups", "project_endpoints", "project_endpoint_groups",
                "registered_limits", "limits"} & set(inspect(engine).get_table_names())


def test_registered_limits_are_unique_per_service_region_and_resource(migration_engine):
    """Also where the region is NULL (a partial unique index: NULLs are distinct)."""
    engine = migration_engine
    migrate.upgrade(engine, "head")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO services (id, type, name, description, enabled) "
            "VALUES ('s1', 'compute', '', '', true)"))
    insert = sqlalchemy.text("INSERT INTO registered_limits (id, service_id, resource_name, "
                             "default_limit) VALUES (:id, 's1', 'ram', 1)")
    with engine.begin() as connection:
        connection.execute(insert, {"id": "r1"})
    with pytest.raises(sqlalchemy.exc.IntegrityError), engine.begin() as connection:
        connection.execute(insert, {"id": "r2"})
