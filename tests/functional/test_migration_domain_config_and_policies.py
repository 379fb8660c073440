"""Migration 0009 (domain configurations and policy blobs) on a 0008 database with data in it:
existing domains have no configuration, take one afterwards (which goes with the domain), and
the migration goes back down to 0008 with the domains intact."""
from __future__ import annotations

import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from keystone_lite.db import migrate, models


def test_upgrade_adds_empty_domain_config_and_policies_and_keeps_domains(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine, "0008")
    with engine.begin() as connection:
        for domain_id, name in (("default", "Default"), ("d2", "ldap-users")):
            connection.execute(sqlalchemy.text(
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES (:id, :name, '', true)"), {"id": domain_id, "name": name})

    migrate.upgrade(engine, "0009")

    with Session(engine) as session, session.begin():
        assert session.scalars(sqlalchemy.select(models.DomainConfigOption)).all() == []
        assert session.scalars(sqlalchemy.select(models.PolicyBlob)).all() == []
        session.add_all([
            models.DomainConfigOption(domain_id="d2", group="ldap", option="url",
                                      value='"ldap://x"', sensitive=False),
            models.DomainConfigOption(domain_id="d2", group="ldap", option="password",
                                      value='"secret"', sensitive=True),
            models.PolicyBlob(id="p1", type="application/json", blob="{}", extra=None)])
    with Session(engine) as session:
        url = session.get(models.DomainConfigOption, ("d2", "ldap", "url"))
        assert (url.value, url.sensitive) == ('"ldap://x"', False)
        assert session.get(models.DomainConfigOption, ("d2", "ldap", "password")).sensitive
        assert session.get(models.PolicyBlob, "p1").type == "application/json"

    command.downgrade(migrate.alembic_config(engine), "0008")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT count(*) FROM domains")).scalar() == 2
    assert not {"domain_config", "policies"} & set(inspect(engine).get_table_names())
