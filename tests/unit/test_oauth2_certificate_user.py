"""token.oauth2_mtls: which user a client certificate names, and Keystone's comparison of that
user with the ``client_id`` of an OAuth 2.0 mutual-TLS request."""
from __future__ import annotations

import types

import pytest

from keystone_lite.token.oauth2_mtls import mapped_user_fields, mismatch

USER = types.SimpleNamespace(id="u1", name="alice")
DOMAIN = types.SimpleNamespace(id="default", name="Default")
SERVICES = types.SimpleNamespace(settings=types.SimpleNamespace(default_domain_id="default"))


def context(remote_user="alice", remote_domain=None) -> dict:
    return {"remote_user": remote_user, "remote_domain": remote_domain, "cert": None}


def test_without_mapping_rules_the_certificate_names_its_user_in_the_default_domain():
    assert mapped_user_fields(SERVICES, context(), None) == {
        "name": "alice", "domain": {"id": "default"}}


def test_without_mapping_rules_remote_domain_names_the_domain():
    assert mapped_user_fields(SERVICES, context(remote_domain="Partners"), None) == {
        "name": "alice", "domain": {"name": "Partners"}}


def test_a_certificate_without_a_user_name_names_nobody():
    assert mapped_user_fields(SERVICES, context(remote_user=None), None) is None


@pytest.mark.parametrize("expected", [
    {"name": "alice", "domain": {"id": "default"}},
    {"id": "u1", "name": "alice", "email": "alice@example.org",
     "domain": {"id": "default", "name": "Default"}},
    {"name": "alice", "id": "", "domain": {}},  # empty fields are not compared (Keystone)
    {},
])
def test_user_with_every_named_field_matches(expected):
    assert mismatch(expected, USER, DOMAIN, lambda: "alice@example.org") is None


@pytest.mark.parametrize("expected, what", [
    ({"name": "bob"}, "user name"),
    ({"name": "Alice"}, "user name"),  # exact, as Keystone compares
    ({"name": "alice", "id": "u2"}, "user id"),
    ({"email": "bob@example.org"}, "user email"),
    ({"domain": {"id": "other"}}, "user domain id"),
    ({"domain": {"name": "default"}}, "user domain name"),
])
def test_first_field_that_differs_is_named(expected, what):
    assert mismatch(expected, USER, DOMAIN, lambda: "alice@example.org")[0] == what


def test_email_is_read_only_when_a_mapping_names_one():
    def email():
        raise AssertionError("read without need")
    assert mismatch({"name": "alice"}, USER, DOMAIN, email) is None
    assert mismatch({"email": "x@example.org"}, USER, DOMAIN, lambda: None) == (
        "user email", "x@example.org", None)
