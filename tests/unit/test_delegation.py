"""token.delegation.is_delegated: Keystone 30's rule (keystone/api/_shared/delegation.py), on
payloads of every method keystone_lite issues and on what no method of its own gives."""
from __future__ import annotations

import dataclasses
import types
import uuid

import pytest

from keystone_lite.token.delegation import is_delegated
from keystone_lite.token.payload import METHODS, TokenPayload, new_audit_id, now_us


def token(methods: tuple[str, ...], **changes) -> types.SimpleNamespace:
    """A validated token as is_delegated reads it: its payload."""
    issued = now_us()
    payload = TokenPayload(user_id=uuid.uuid4().hex, methods=methods, issued_at=issued,
                           expires_at=issued + 3600 * 10**6, audit_ids=(new_audit_id(),))
    return types.SimpleNamespace(payload=dataclasses.replace(payload, **changes))


@pytest.mark.parametrize("methods, delegated", [
    (("external",), False),
    (("password",), False),
    (("token", "external"), False),  # rescoped from a certificate login
    (("token", "password"), False),
    (("application_credential",), True),
    (("token", "application_credential"), True),  # rescoped from one (before this rule)
    (("oauth1",), True),
    (("ec2credential",), True),
    (("oauth2_credential",), True),  # Keystone shows it as "methods": []
    ((), True),  # no method at all: Keystone's deny by default
    (("external", "a-method-added-later"), True),
])
def test_only_primary_methods_make_a_token_undelegated(methods, delegated):
    assert is_delegated(token(methods), counting_trusts=False) is delegated
    assert is_delegated(token(methods), counting_trusts=True) is delegated


def test_every_method_keystone_lite_issues_is_classified_as_keystone_does():
    primary = {method for method in METHODS if not is_delegated(token((method,)),
                                                                counting_trusts=False)}
    assert primary == {"token", "external", "password"}


def test_a_trust_scope_counts_only_where_the_caller_says_so():
    trust_scoped = token(("external",), scope_kind="project", scope_id=uuid.uuid4().hex,
                         trust_id=uuid.uuid4().hex)
    assert not is_delegated(trust_scoped, counting_trusts=False)
    assert is_delegated(trust_scoped, counting_trusts=True)


@pytest.mark.parametrize("restriction", [{"application_credential_id": uuid.uuid4().hex},
                                         {"access_token_id": uuid.uuid4().hex}])
def test_a_payload_naming_a_delegation_is_delegated_whatever_its_methods(restriction):
    assert is_delegated(token(("token",), **restriction), counting_trusts=False)


def test_the_admin_token_is_no_delegation():
    assert not is_delegated(None, counting_trusts=True)
