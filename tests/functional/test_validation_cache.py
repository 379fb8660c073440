"""The per-process validation cache never outlives a change, wherever the change is made.

A second engine on the same database plays "another node" (or keystone-lite-manage): its writes
must reach this process's next validation through the change counter alone.
"""
import pytest
from sqlalchemy import event, select

from keystone_lite.db import models, session as db_session
from keystone_lite.identity import store
from keystone_lite.token import key_repository

from builders import add_user, admin_headers, cert_environ, external_auth, issue


def change_elsewhere(deployment, change) -> None:
    """Run ``change(session)`` in one transaction of a second "node" on the same database."""
    engine = db_session.make_engine(deployment.services().settings.database_connection)
    try:
        with db_session.make_session_factory(engine).begin() as session:
            change(session)
    finally:
        engine.dispose()


def alice(session):
    return session.scalar(select(models.User).where(models.User.name == "alice"))


def count_statements(deployment):
    """Every statement SQLite runs for the deployment from now on: SQLite's own trace on each
    connection taken from the pool, so reads on raw driver connections count as much as the
    ORM's (the change counter's reader opens its connection afresh)."""
    services = deployment.services()
    statements = []
    event.listen(services.engine, "checkout", lambda dbapi_connection, *args:
                 dbapi_connection.set_trace_callback(statements.append))
    services.tokens.counter.close()
    return statements


SQLITE_TRACE = "counts statements with SQLite's trace callback; psycopg has no client-side hook"


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_repeated_validation_reads_only_the_change_counter(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    statements = count_statements(deployment)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token))
    statements.clear()
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token))
    assert statements == ["SELECT value FROM generation WHERE id = 1"]


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_first_validation_of_another_token_of_a_known_user_reads_only_the_counter(
        deployment):
    """A service sees each token once (keystonemiddleware caches it): a new token of a user
    whose principal is remembered is answered without a query or a transaction."""
    add_user(deployment, "alice", "demo")
    first, second = (issue(deployment.main, "alice", "demo") for _ in range(2))
    statements = count_statements(deployment)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(first))
    statements.clear()
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(second))
    assert statements == ["SELECT value FROM generation WHERE id = 1"]


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_first_token_of_a_user_is_read_in_three_statements(deployment):
    """The principal of a user's first token: the user, the project, the roles held there
    (domains and implied-role rules once per process), in a read-only transaction."""
    add_user(deployment, "alice", "demo")
    add_user(deployment, "bob", "demo")
    alice, bob = issue(deployment.main, "alice", "demo"), issue(deployment.main, "bob", "demo")
    statements = count_statements(deployment)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(alice))
    statements.clear()
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(bob))
    reads = [statement for statement in statements if statement.startswith("SELECT")]
    assert len(reads) == 4, statements  # the counter, then three
    assert statements[-1] == "ROLLBACK"


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_repeated_certificate_login_reads_only_the_change_counter(deployment):
    add_user(deployment, "alice", "demo")
    statements = count_statements(deployment)
    issue(deployment.main, "alice", "demo")
    statements.clear()
    issue(deployment.main, "alice", "demo")
    assert statements == ["SELECT value FROM generation WHERE id = 1"]


def test_user_disabled_by_another_node_fails_the_next_validation(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=200)
    change_elsewhere(deployment, lambda session: setattr(alice(session), "enabled", False))
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


def test_role_removed_by_another_node_fails_the_next_validation(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=200)

    def remove_roles(session):
        for assignment in session.scalars(select(models.RoleAssignment).where(
                models.RoleAssignment.user_id == alice(session).id)):
            session.delete(assignment)

    change_elsewhere(deployment, remove_roles)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


def test_key_rotated_out_fails_a_cached_validation(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=200)
    settings = deployment.services().settings
    for _ in range(settings.max_active_keys):
        key_repository.rotate(settings.key_repository, settings.max_active_keys)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


def test_catalog_change_by_another_node_shows_in_the_next_token(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    before = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token)).json

    def move_endpoints(session):
        for endpoint in session.scalars(select(models.Endpoint)):
            endpoint.url = "https://moved.example/v3"

    change_elsewhere(deployment, move_endpoints)
    after = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token)).json
    urls = {e["url"] for s in after["token"]["catalog"] for e in s["endpoints"]}
    assert before["token"]["catalog"] != after["token"]["catalog"]
    assert urls == {"https://moved.example/v3"}


def login(deployment, user: str, project: str, status: int):
    """A certificate login of ``user`` scoped to ``project``."""
    return deployment.main.post_json("/v3/auth/tokens", external_auth(project),
                                     extra_environ=cert_environ(user), status=status)


def test_user_disabled_by_another_node_cannot_log_in_again(deployment):
    add_user(deployment, "alice", "demo")
    login(deployment, "alice", "demo", 201)
    change_elsewhere(deployment, lambda session: setattr(alice(session), "enabled", False))
    login(deployment, "alice", "demo", 401)


def test_user_created_by_another_node_can_log_in_after_a_refusal(deployment):
    login(deployment, "alice", "demo", 401)  # remembered: no such user
    add_user(deployment, "alice", "demo")  # the CLI is another process
    login(deployment, "alice", "demo", 201)


def test_project_disabled_by_another_node_refuses_the_next_login(deployment):
    add_user(deployment, "alice", "demo")
    login(deployment, "alice", "demo", 201)

    def disable_demo(session):
        session.scalar(select(models.Project).where(models.Project.name == "demo")
                       ).enabled = False

    change_elsewhere(deployment, disable_demo)
    login(deployment, "alice", "demo", 401)


def test_user_renamed_by_another_node_shows_in_the_next_validation(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    before = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token)).json
    assert before["token"]["user"]["name"] == "alice"
    change_elsewhere(deployment, lambda session: setattr(alice(session), "name", "alicia"))
    after = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token)).json
    assert after["token"]["user"]["name"] == "alicia"


def test_user_disabled_and_enabled_again_by_another_node_fails_the_next_validation(deployment):
    """Only the revision shows it: the user is as it was, but its tokens must stay dead."""
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=200)

    for enabled in (False, True):
        change_elsewhere(deployment, lambda session: store.update(
            session, alice(session), {"enabled": enabled}))

    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)
    login(deployment, "alice", "demo", 201)
