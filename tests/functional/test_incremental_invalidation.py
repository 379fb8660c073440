"""A change made on another node drops only what it concerns (the change log beside the
counter, keystone_lite.db.generation): the changed user's tokens are checked afresh on the next
request, other users' stay remembered; a logout kills its token and nothing else."""
import pytest
from sqlalchemy import select

from keystone_lite.db import models

from builders import add_user, admin_headers, issue
from test_validation_cache import SQLITE_TRACE, change_elsewhere, count_statements


def user(name):
    return lambda session: session.scalar(select(models.User).where(models.User.name == name))


def validate(deployment, token, status=200):
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_user_disabled_on_another_node_fails_at_once_while_others_stay_cached(deployment):
    add_user(deployment, "alice", "demo")
    add_user(deployment, "bob", "demo")
    alice_token = issue(deployment.main, "alice", "demo")
    bob_token = issue(deployment.main, "bob", "demo")
    statements = count_statements(deployment)  # (a new counter connection: caches afresh)
    validate(deployment, alice_token)
    validate(deployment, bob_token)

    change_elsewhere(deployment, lambda session: setattr(user("alice")(session), "enabled",
                                                         False))
    validate(deployment, alice_token, status=404)
    statements.clear()
    validate(deployment, bob_token)

    assert statements == ["SELECT value FROM generation WHERE id = 1"]


@pytest.mark.sqlite_only(SQLITE_TRACE)
def test_logout_kills_its_token_and_leaves_other_validations_cached(deployment):
    add_user(deployment, "alice", "demo")
    tokens = [issue(deployment.main, "alice", "demo") for _ in range(3)]
    statements = count_statements(deployment)  # (a new counter connection: caches afresh)
    for token in tokens:
        validate(deployment, token)
    deployment.admin.delete("/v3/auth/tokens", headers=admin_headers(tokens[0]), status=204)

    validate(deployment, tokens[0], status=404)
    statements.clear()
    for token in tokens[1:]:
        validate(deployment, token)

    assert statements == ["SELECT value FROM generation WHERE id = 1"] * 2


def test_role_granted_on_another_node_to_one_user_shows_in_the_next_validation(deployment):
    add_user(deployment, "alice", "demo")
    add_user(deployment, "bob", "demo")
    alice_token = issue(deployment.main, "alice", "demo")
    validate(deployment, alice_token)

    def remove_roles(session):
        alice_id = user("alice")(session).id
        for assignment in session.scalars(select(models.RoleAssignment).where(
                models.RoleAssignment.user_id == alice_id)):
            session.delete(assignment)

    change_elsewhere(deployment, remove_roles)
    validate(deployment, alice_token, status=404)


def test_changes_the_log_does_not_reach_empty_every_cache(deployment):
    add_user(deployment, "alice", "demo")
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)

    def disable_and_forget(session):
        setattr(user("alice")(session), "enabled", False)
        session.flush()
        session.execute(models.Change.__table__.delete())  # as after a purge

    change_elsewhere(deployment, disable_and_forget)
    validate(deployment, token, status=404)
