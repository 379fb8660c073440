"""keystone-lite-manage user/project/role against a deployment whose apps are loaded: every
command's output (table and JSON), its one-line errors, and that its changes act on tokens
exactly as the admin API's do (checked through the apps, as clients see them).
"""
from __future__ import annotations

import json

import pytest

from builders import (add_user, admin_headers, external_auth, issue, password_auth,
                      post_token)
from keystone_lite.cli import manage


def run(deployment, *argv) -> int:
    return manage.main(["--config-file", deployment.config, *argv])


def output(deployment, capsys, *argv) -> str:
    assert run(deployment, *argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def as_json(deployment, capsys, *argv):
    return json.loads(output(deployment, capsys, *argv, "--format", "json"))


def failure(deployment, capsys, *argv) -> str:
    """The one stderr line of a failed command (exit status 1)."""
    assert run(deployment, *argv) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.strip()


def validate(deployment, token, status=200):
    return deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


@pytest.fixture
def alice(deployment):
    """alice, member of demo, with a live token scoped to demo."""
    add_user(deployment, "alice", "demo", "member", password="alice-secret-1")
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    return token


# -- users ---------------------------------------------------------------------------------------

def test_user_list_is_a_table_by_default_and_json_on_request(deployment, alice, capsys):
    table = output(deployment, capsys, "user", "list").splitlines()
    users = as_json(deployment, capsys, "user", "list")

    assert table[0].split() == ["id", "name", "domain", "enabled", "password"]
    assert any(line.split()[1:] == ["alice", "Default", "yes", "yes"] for line in table[1:])
    assert {user["name"] for user in users} == {"admin", "alice"}
    alice_record = next(user for user in users if user["name"] == "alice")
    assert alice_record["enabled"] is True and alice_record["password"] is True
    assert "password_hash" not in alice_record


def test_user_show_by_name_or_id_lists_its_roles(deployment, alice, capsys):
    shown = as_json(deployment, capsys, "user", "show", "alice")
    by_id = as_json(deployment, capsys, "user", "show", shown["id"])

    assert shown == by_id
    assert shown["roles"] == ["member on project demo"]
    assert "alice-secret" not in json.dumps(shown)


def test_user_show_of_an_unknown_user_is_one_line_naming_it(deployment, capsys):
    line = failure(deployment, capsys, "user", "show", "ghost")
    assert line == "keystone-lite-manage user show: no user 'ghost' in domain 'Default'"


def test_unknown_domain_is_one_line_naming_it(deployment, capsys):
    line = failure(deployment, capsys, "user", "list", "--domain", "nowhere")
    assert line == "keystone-lite-manage user list: no domain 'nowhere'"


def test_user_disable_kills_its_tokens_and_enable_does_not_revive_them(deployment, alice,
                                                                        capsys):
    output(deployment, capsys, "user", "disable", "alice")
    validate(deployment, alice, status=404)
    post_token(deployment.main, external_auth("demo"), user="alice", status=401)

    output(deployment, capsys, "user", "enable", "alice")
    validate(deployment, alice, status=404)
    validate(deployment, issue(deployment.main, "alice", "demo"))


def test_user_password_sets_a_new_one_and_kills_the_tokens(deployment, alice, capsys):
    output(deployment, capsys, "user", "password", "alice", "--password", "alice-secret-2")

    validate(deployment, alice, status=404)
    post_token(deployment.main, password_auth("alice", "alice-secret-1", "demo"), status=401)
    post_token(deployment.main, password_auth("alice", "alice-secret-2", "demo"))


def test_user_password_remove_leaves_certificate_login_only(deployment, alice, capsys):
    output(deployment, capsys, "user", "password", "alice", "--remove")

    post_token(deployment.main, password_auth("alice", "alice-secret-1", "demo"), status=401)
    validate(deployment, issue(deployment.main, "alice", "demo"))
    assert as_json(deployment, capsys, "user", "show", "alice")["password"] is False


def test_user_set_renames_and_refuses_a_taken_name(deployment, alice, capsys):
    add_user(deployment, "bob")
    line = failure(deployment, capsys, "user", "set", "alice", "--name", "bob")
    assert line.startswith("keystone-lite-manage user set: user 'bob' already exists")

    output(deployment, capsys, "user", "set", "alice", "--name", "alicia",
           "--description", "renamed")
    shown = as_json(deployment, capsys, "user", "show", "alicia")
    assert shown["description"] == "renamed"
    post_token(deployment.main, external_auth("demo"), user="alice", status=401)


def test_user_delete_kills_its_tokens_and_removes_its_grants(deployment, alice, capsys):
    output(deployment, capsys, "user", "delete", "alice")

    validate(deployment, alice, status=404)
    assert "alice" not in {user["name"] for user in as_json(deployment, capsys, "user", "list")}
    assert as_json(deployment, capsys, "role", "assignment", "list", "--project", "demo") == []


# -- projects ------------------------------------------------------------------------------------

def test_project_create_list_show_and_delete(deployment, capsys):
    output(deployment, capsys, "project", "create", "research", "--description", "lab")
    line = failure(deployment, capsys, "project", "create", "research")
    assert line == ("keystone-lite-manage project create: project 'research' already exists "
                    "in domain 'Default'")

    names = [project["name"] for project in as_json(deployment, capsys, "project", "list")]
    shown = as_json(deployment, capsys, "project", "show", "research")
    assert "research" in names
    assert shown["description"] == "lab" and shown["enabled"] is True
    assert shown["grants"] == []

    output(deployment, capsys, "project", "delete", "research")
    assert failure(deployment, capsys, "project", "show", "research") == (
        "keystone-lite-manage project show: no project 'research' in domain 'Default'")


def test_project_disable_kills_the_tokens_scoped_to_it(deployment, alice, capsys):
    output(deployment, capsys, "project", "disable", "demo")
    validate(deployment, alice, status=404)

    output(deployment, capsys, "project", "enable", "demo")
    validate(deployment, alice, status=404)
    validate(deployment, issue(deployment.main, "alice", "demo"))


def test_project_delete_kills_the_tokens_scoped_to_it(deployment, alice, capsys):
    output(deployment, capsys, "project", "delete", "demo")
    validate(deployment, alice, status=404)


# -- roles and assignments -----------------------------------------------------------------------

def test_role_list_names_the_bootstrap_roles(deployment, capsys):
    names = {role["name"] for role in as_json(deployment, capsys, "role", "list")}
    assert {"admin", "manager", "member", "reader"} <= names


def test_role_assignment_add_lets_the_user_scope_to_the_project(deployment, capsys):
    add_user(deployment, "carol")
    output(deployment, capsys, "project", "create", "research")
    post_token(deployment.main, external_auth("research"), user="carol", status=401)

    output(deployment, capsys, "role", "assignment", "add", "reader", "--user", "carol",
           "--project", "research")
    token = issue(deployment.main, "carol", "research")

    roles = validate(deployment, token).json["token"]["roles"]
    assert [role["name"] for role in roles] == ["reader"]
    listed = as_json(deployment, capsys, "role", "assignment", "list", "--user", "carol")
    assert [(entry["role"], entry["project"]) for entry in listed] == [("reader", "research")]


def test_role_assignment_remove_ends_the_tokens_that_carried_it(deployment, alice, capsys):
    output(deployment, capsys, "role", "assignment", "remove", "member", "--user", "alice",
           "--project", "demo")
    validate(deployment, alice, status=404)

    line = failure(deployment, capsys, "role", "assignment", "remove", "member", "--user",
                   "alice", "--project", "demo")
    assert line == ("keystone-lite-manage role assignment remove: user 'alice' holds no role "
                    "'member' on project 'demo'")


def test_role_assignment_list_is_a_table_with_the_system_grant(deployment, capsys):
    table = output(deployment, capsys, "role", "assignment", "list", "--system").splitlines()
    assert table[0].split() == ["role", "user", "group", "actor_domain", "project", "domain",
                                "system", "inherited"]
    assert [line.split() for line in table[1:]] == [
        ["admin", "admin", "-", "Default", "-", "-", "all", "no"]]


# -- pki client ----------------------------------------------------------------------------------

def test_pki_client_for_an_unknown_user_warns_and_still_issues(deployment, alice, capsys):
    output(deployment, capsys, "pki", "setup")
    assert run(deployment, "pki", "client", "ghost") == 0
    captured = capsys.readouterr()

    assert captured.err == ("warning: no user 'ghost' in domain 'default': the certificate "
                            "logs in no one until `keystone-lite-manage user create ghost`\n")
    assert "client certificate for 'ghost'" in captured.out
    assert run(deployment, "pki", "client", "alice") == 0
    assert capsys.readouterr().err == ""
