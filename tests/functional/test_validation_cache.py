"""The per-process validation cache never outlives a change, wherever the change is made.

A second engine on the same database plays "another node" (or keystone-lite-manage): its writes
must reach this process's next validation through the change counter alone.
"""
from sqlalchemy import event, select

from keystone_lite.db import models, session as db_session
from keystone_lite.token import key_repository

from builders import add_user, admin_headers, issue


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


def count_statements(engine):
    statements = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    return statements


def test_repeated_validation_reads_only_the_change_counter(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token))
    statements = count_statements(deployment.services().engine)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token))
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert queries == ["SELECT value FROM generation WHERE id = 1"]


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
