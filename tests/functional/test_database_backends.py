"""What differs between SQLite and PostgreSQL, pinned on whichever backend the run uses.

PostgreSQL refuses what SQLite takes in silence — NUL characters in text, strings longer than
their column, a second insert of the same key racing the first — and has real column types.
These tests run on both backends (``KEYSTONE_LITE_TEST_DATABASE_URL`` selects PostgreSQL) and
expect the same answers from both.
"""
from __future__ import annotations

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

import databases
from builders import (add_user, admin_headers, assert_keystone_error, cert_environ, external_auth,
                      issue, password_auth, post_token, subject_headers)
from keystone_lite import settings as settings_module
from keystone_lite.db import migrate, models, session as db_session
from keystone_lite.identity import store
from keystone_lite.token import revocation
from keystone_lite.token.payload import now_us


# -- NUL characters and long strings in the token API -------------------------------------------

def with_nul(body: dict, *path: str) -> dict:
    """``body`` with a NUL inside the string at ``path``."""
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "a\x00" + target[path[-1]]
    return body


@pytest.mark.parametrize("body, where", [
    (with_nul(password_auth("alice", "secret"), "auth", "identity", "password", "user", "name"),
     "auth.identity.password.user.name"),
    (with_nul(password_auth("alice", "secret"), "auth", "identity", "password", "user",
              "password"), "auth.identity.password.user.password"),
    (with_nul(password_auth("alice", "secret", "demo"), "auth", "scope", "project", "name"),
     "auth.scope.project.name"),
    (with_nul(password_auth("alice", "secret"), "auth", "identity", "password", "user",
              "domain", "id"), "auth.identity.password.user.domain.id"),
    ({"auth": {"identity": {"methods": ["password\x00"]}}}, "auth.identity.methods[0]"),
])
def test_nul_character_in_a_v3_auth_body_is_400_naming_the_field(deployment, body, where):
    response = post_token(deployment.main, body, status=400)

    assert where in assert_keystone_error(response, 400)["message"]


def test_nul_character_in_a_v2_auth_body_is_400(deployment):
    body = {"auth": {"tenantName": "de\x00mo",
                     "passwordCredentials": {"username": "alice", "password": "secret"}}}

    response = deployment.admin.post_json("/v2.0/tokens", body, status=400)

    assert "auth.tenantName" in assert_keystone_error(response, 400)["message"]


def test_names_longer_than_their_columns_in_an_auth_body_are_401_not_500(deployment):
    add_user(deployment, "alice", "demo", "member", password="secret")
    long_name = "x" * 300

    post_token(deployment.main, password_auth(long_name, "secret"), status=401)
    post_token(deployment.main, password_auth("alice", "secret", long_name), status=401)
    post_token(deployment.main, external_auth(long_name), user="alice", status=401)


@pytest.mark.parametrize("token", ["a\x00" * 16, "A" * 32, "g" * 32, "0" * 31 + "\x00",
                                   "f" * 300])
def test_uuid_token_id_that_could_not_have_been_issued_is_404_or_401(make_deployment, token):
    deployment = make_deployment({"token": {"provider": "uuid"}})

    subject = deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token),
                                   status=404)
    caller = deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": token},
                                 status=401)

    assert_keystone_error(subject, 404)
    assert_keystone_error(caller, 401)


# -- revocation rows ------------------------------------------------------------------------------

def test_revoking_the_same_key_twice_in_one_transaction_keeps_the_later_times(deployment):
    services = deployment.services()
    later = now_us() + 10_000_000
    with services.transaction() as session:
        revocation.revoke(session, "audit", "chain", later)
        revocation.revoke(session, "audit", "chain", later - 5)
    with services.transaction() as session:
        event = session.get(models.RevocationEvent, ("audit", "chain"))
        first = (event.revoked_at, event.expires_at)
        revocation.revoke(session, "audit", "chain", later - 1)
    with services.transaction() as session:
        event = session.get(models.RevocationEvent, ("audit", "chain"))
        assert event.expires_at == later  # never narrowed
        assert event.revoked_at >= first[0]  # moved forward to the latest revocation


def test_a_revoking_change_moves_the_stored_revision_not_the_one_this_node_read(deployment):
    """``revision + 1`` in SQL: a change another node committed after this one loaded the row
    still counts (played here by an UPDATE the loaded object does not see)."""
    add_user(deployment, "alice", "demo", "member")
    with deployment.services().transaction() as session:
        alice = store.find_user(session, name="alice", domain_id="default")
        assert alice.revision == 0
        session.execute(sqlalchemy.update(models.User).where(models.User.id == alice.id)
                        .values(revision=5).execution_options(synchronize_session=False))
        store.update(session, alice, {"enabled": False})
        store.update(session, alice, {"enabled": False})  # no change: no revision either
        store.update(session, alice, {"name": "alicia"})
        assert alice.revision == 6


def test_token_revoked_then_revoked_again_by_user_and_by_audit_id_stays_404(deployment):
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.delete("/v3/auth/tokens", headers=admin_headers(token), status=204)
    user_id = deployment.admin.get("/v3/users?name=alice", headers=admin_headers()
                                   ).json["users"][0]["id"]

    deployment.admin.patch_json(f"/v3/users/{user_id}", {"user": {"enabled": False}},
                                headers=admin_headers(), status=200)
    deployment.admin.patch_json(f"/v3/users/{user_id}", {"user": {"enabled": False}},
                                headers=admin_headers(), status=200)

    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


# -- schema and types -----------------------------------------------------------------------------

def engine_of(deployment) -> sqlalchemy.Engine:
    return db_session.make_engine(settings_module.load(deployment.config).database_connection)


def test_migrated_schema_has_the_column_types_the_models_declare(deployment):
    engine = engine_of(deployment)
    try:
        inspector = inspect(engine)
        for table in models.every_table():
            columns = {column["name"]: column for column in inspector.get_columns(table.name)}
            assert set(columns) == set(table.columns.keys()), table.name
            for column in table.columns:
                found = columns[column.name]["type"]
                assert found._type_affinity is column.type._type_affinity or (
                    # SQLite has no boolean type: a BOOLEAN column reads back as integer-like.
                    engine.dialect.name == "sqlite" and isinstance(column.type,
                                                                   sqlalchemy.Boolean)), (
                    f"{table.name}.{column.name}: {found!r}, model says {column.type!r}")
                assert columns[column.name]["nullable"] == column.nullable, (
                    f"{table.name}.{column.name}")
    finally:
        engine.dispose()


def test_microsecond_times_binary_payloads_and_booleans_round_trip_exactly(deployment):
    huge = 2**62 + 123_457  # far beyond 32 bits: must not be truncated or rounded
    payload = bytes(range(256)) * 4  # every byte value, NUL included
    services = deployment.services()
    with services.transaction() as session:
        session.add(models.Token(id="f" * 32, user_id="u", expires_at=huge, payload=payload))
        session.add(models.RevocationEvent(kind="audit", key="k", revoked_at=huge - 1,
                                           expires_at=huge))
        domain = models.Domain(id="d" * 32, name="off", description="", enabled=False)
        session.add(domain)
    with services.transaction() as session:
        token = session.get(models.Token, "f" * 32)
        assert (token.expires_at, token.payload) == (huge, payload)
        assert session.scalar(select(models.RevocationEvent.key).where(
            models.RevocationEvent.revoked_at >= huge - 1)) == "k"
        assert session.scalar(select(models.RevocationEvent.key).where(
            models.RevocationEvent.revoked_at >= huge)) is None
        assert session.get(models.Domain, "d" * 32).enabled is False
        assert [d.name for d in session.scalars(select(models.Domain).where(
            models.Domain.enabled.is_(False)))] == ["off"]


def test_migrations_go_down_to_nothing_and_up_again(migration_engine):
    engine = migration_engine
    migrate.upgrade(engine)
    head = migrate.current_revision(engine)
    command.downgrade(migrate.alembic_config(engine), "base")
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == head
    assert set(inspect(engine).get_table_names()) >= {
        table.name for table in models.every_table()}


def test_upgrade_to_extra_attributes_keeps_existing_users_and_projects(migration_engine):
    """Migration 0005 on a 0004 database with data in it: rows survive with no extra
    attributes, take some afterwards, and go back down to 0004 intact."""
    engine = migration_engine
    migrate.upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
            "VALUES ('u1', 'default', 'alice', true, 'old', 3)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO projects (id, domain_id, name, description, enabled, revision) "
            "VALUES ('p1', 'default', 'demo', '', true, 0)"))

    migrate.upgrade(engine)

    with Session(engine) as session, session.begin():
        user = session.get(models.User, "u1")
        assert (user.name, user.description, user.revision, user.extra) == (
            "alice", "old", 3, None)
        assert session.get(models.Project, "p1").extra is None
        user.extra = '{"email": "alice@example.com"}'
    with Session(engine) as session:
        assert session.get(models.User, "u1").extra == '{"email": "alice@example.com"}'

    command.downgrade(migrate.alembic_config(engine), "0004")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT name FROM users WHERE id = 'u1'")).scalar() == "alice"
    assert "extra" not in {column["name"] for column in inspect(engine).get_columns("users")}


def test_upgrade_to_groups_keeps_users_and_grants_and_takes_groups(migration_engine):
    """Migration 0006 on a 0005 database with data in it: users and grants survive, groups,
    memberships and group grants can be stored (and go with their group), and the database
    goes back down to 0005 with the users' rows intact."""
    engine = migration_engine
    migrate.upgrade(engine, "0005")
    with engine.begin() as connection:
        for statement in (
                "INSERT INTO domains (id, name, description, enabled) "
                "VALUES ('default', 'Default', '', true)",
                "INSERT INTO users (id, domain_id, name, enabled, description, revision, "
                "extra) VALUES ('u1', 'default', 'alice', true, '', 2, '{\"a\": 1}')",
                "INSERT INTO roles (id, name, description) VALUES ('r1', 'member', '')",
                "INSERT INTO role_assignments (user_id, target_type, target_id, role_id) "
                "VALUES ('u1', 'system', 'all', 'r1')"):
            connection.execute(sqlalchemy.text(statement))

    migrate.upgrade(engine)

    with Session(engine) as session, session.begin():
        assert session.get(models.User, "u1").revision == 2
        assert [role.name for role in store.roles_on(session, "u1", "system", "all")] == [
            "member"]
        session.add(models.Group(id="g1", domain_id="default", name="devs",
                                 description=""))
        session.flush()
        store.add_member(session, "g1", "u1")
        store.grant(session, "g1", "project", "p1", "r1", actor="group")
    with Session(engine) as session:
        assert [role.name for role in store.roles_on(session, "u1", "project", "p1")] == [
            "member"]
        assert [group.name for group in store.groups_of(session, "u1")] == ["devs"]

    command.downgrade(migrate.alembic_config(engine), "0005")
    assert "groups" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text(
            "SELECT role_id FROM role_assignments WHERE user_id = 'u1'")).scalar() == "r1"


def test_the_run_uses_the_backend_the_environment_selects(deployment):
    engine = engine_of(deployment)
    try:
        expected = "postgresql" if databases.postgresql_selected() else "sqlite"
        assert engine.dialect.name == expected
    finally:
        engine.dispose()



def test_token_revoked_on_a_node_whose_clock_is_behind_the_issuers_is_still_404(
        deployment, monkeypatch):
    """Two nodes, two clocks: the revoking node's "now" may be before the token's issued_at."""
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    monkeypatch.setattr(deployment.services().tokens, "clock",
                        lambda: now_us() - 5_000_000)  # 5 s behind

    deployment.admin.delete("/v3/auth/tokens", headers=admin_headers(token), status=204)

    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


@pytest.mark.parametrize("key", ["REMOTE_USER", "REMOTE_DOMAIN"])
def test_nul_character_in_the_web_servers_identity_is_refused_with_401(deployment, key):
    add_user(deployment, "alice", "demo", "member")
    environ = {**cert_environ("alice"), key: "alice\x00"}

    response = post_token(deployment.main, external_auth("demo"), extra_environ=environ,
                          status=401)

    assert "NUL" in assert_keystone_error(response, 401)["message"]


def test_upgrade_to_implied_roles_keeps_roles_and_adds_the_persona_chain(migration_engine):
    """Migration 0007 on a 0005 database with roles and grants in it: the roles become global
    ones, the persona chain (which policy used to expand by name) becomes rules among the
    roles that have those names, names are unique per domain, and 0005 comes back intact."""
    engine = migration_engine
    names = {"r-admin": "admin", "r-member": "member", "r-reader": "reader", "r-other": "other"}
    migrate.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO domains (id, name, description, enabled) "
            "VALUES ('default', 'Default', '', true)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO users (id, domain_id, name, enabled, description, revision) "
            "VALUES ('u1', 'default', 'alice', true, '', 0)"))
        for role_id, name in names.items():  # no manager: admin ⇒ manager is left out
            connection.execute(sqlalchemy.text(
                "INSERT INTO roles (id, name, description) VALUES (:id, :name, '')"),
                {"id": role_id, "name": name})
        connection.execute(sqlalchemy.text(
            "INSERT INTO role_assignments (user_id, target_type, target_id, role_id) "
            "VALUES ('u1', 'system', 'all', 'r-admin')"))

    migrate.upgrade(engine)

    with Session(engine) as session:
        roles = {role.id: (role.name, role.domain_id)
                 for role in session.scalars(sqlalchemy.select(models.Role))}
        assert roles == {role_id: (name, None) for role_id, name in names.items()}
        assert {(rule.prior_role_id, rule.implied_role_id) for rule in session.scalars(
            sqlalchemy.select(models.ImpliedRole))} == {("r-member", "r-reader")}
        assert [role.name for role in store.expand_implied(
            session, [session.get(models.Role, "r-member")])] == ["member", "reader"]
        assert store.has_grant(session, "u1", "system", "all", "r-admin")
    with pytest.raises(sqlalchemy.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO roles (id, name, description) VALUES ('dup', 'other', '')"))
    with engine.begin() as connection:  # the same name in a domain is another role
        connection.execute(sqlalchemy.text(
            "INSERT INTO roles (id, name, description, domain_id) "
            "VALUES ('local', 'other', '', 'default')"))
        connection.execute(sqlalchemy.text("DELETE FROM roles WHERE id = 'local'"))

    command.downgrade(migrate.alembic_config(engine), "0005")
    with engine.connect() as connection:
        assert dict(connection.execute(sqlalchemy.text(
            "SELECT id, name FROM roles")).all()) == names
    assert "implied_roles" not in inspect(engine).get_table_names()
