"""Secrets are compared in constant time: the admin token with ``hmac.compare_digest``,
passwords by argon2's verify (stored only as argon2id hashes), and no ``==``/``!=`` on a secret
anywhere in the package (STYLE.md)."""
from __future__ import annotations

import ast
import hmac
import pathlib

import pytest

from builders import (ADMIN_TOKEN, admin_headers, assert_keystone_error, in_store,
                      password_auth, post_token)
from keystone_lite.db import models
from keystone_lite.identity import store

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "keystone_lite"
# Names that hold secrets (or look like they do): never compared with == or !=.
SECRET_NAMES = ("admin_token", "password", "secret", "fernet_key", "private_key")


@pytest.fixture
def compare_digest_calls(monkeypatch):
    """Every hmac.compare_digest call (the real function still answers)."""
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


@pytest.mark.parametrize("presented, accepted", [
    (ADMIN_TOKEN, True),
    (ADMIN_TOKEN[:-1] + "X", False),  # differs in the last character only
    (ADMIN_TOKEN + "X", False),
    ("x", False),
])
def test_admin_token_is_compared_with_compare_digest(deployment, compare_digest_calls,
                                                     presented, accepted):
    status = 200 if accepted else 401
    deployment.admin.get("/v3/users", headers={"X-Auth-Token": presented}, status=status)

    assert (presented.encode(), ADMIN_TOKEN.encode()) in compare_digest_calls


def test_admin_token_with_non_ascii_bytes_is_refused_not_an_error(deployment):
    response = deployment.admin.get(
        "/v3/users", headers={"X-Auth-Token": ADMIN_TOKEN + "\xe9"}, status=401)
    assert_keystone_error(response, 401)


def test_passwords_are_stored_as_argon2id_hashes_only(deployment):
    deployment.admin.post_json("/v3/users", {"user": {"name": "dora", "password": "dora-pw-1"}},
                               headers=admin_headers(), status=201)
    user_id = deployment.admin.get("/v3/users?name=dora", headers=admin_headers()
                                   ).json["users"][0]["id"]
    deployment.admin.patch_json(f"/v3/users/{user_id}", {"user": {"password": "dora-pw-2"}},
                                headers=admin_headers())

    stored = in_store(deployment, lambda session: session.get(models.User, user_id)
                      .password_hash)
    assert stored.startswith("$argon2id$")
    assert "dora-pw" not in stored
    post_token(deployment.main, password_auth("dora", "dora-pw-2"))
    post_token(deployment.main, password_auth("dora", "dora-pw-1"), status=401)
    assert in_store(deployment, lambda session: store.find_user(
        session, name="dora", domain_id="default").password_hash) == stored


def secret_comparisons(tree: ast.AST) -> list[int]:
    """Line numbers of ==/!= comparisons with an operand named like a secret."""
    def names(node):
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                yield child.id
            elif isinstance(child, ast.Attribute):
                yield child.attr

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq))
                                                 for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(secret in name.lower() for operand in operands for name in names(operand)
                   for secret in SECRET_NAMES):
                lines.append(node.lineno)
    return lines


def test_no_secret_is_compared_with_equality_anywhere_in_the_package():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = secret_comparisons(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
    assert found == {}


def test_the_equality_check_finds_what_it_looks_for():
    tree = ast.parse("if token == settings.admin_token: pass\n"
                     "ok = user.password != given\n"
                     "fine = hmac.compare_digest(a, admin_token)\n")
    assert secret_comparisons(tree) == [1, 2]
