"""token.payload: the compact, self-describing binary form of what a token says."""
from __future__ import annotations

import base64
import dataclasses
import uuid

import msgpack
import pytest

from keystone_lite.token.payload import (
    METHODS, SCOPE_KINDS, MalformedPayload, TokenPayload, decode, encode, new_audit_id, now_us)

USER_ID = uuid.uuid4().hex
PROJECT_ID = uuid.uuid4().hex


def payload(**changes) -> TokenPayload:
    issued = now_us()
    base = TokenPayload(user_id=USER_ID, methods=("external",), issued_at=issued,
                        expires_at=issued + 3600 * 10**6, audit_ids=(new_audit_id(),))
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("scope", [
    {},
    {"scope_kind": "project", "scope_id": PROJECT_ID},
    {"scope_kind": "domain", "scope_id": "default"},
    {"scope_kind": "domain", "scope_id": uuid.uuid4().hex},
    {"scope_kind": "system", "scope_id": "all"},
], ids=["unscoped", "project", "domain-default", "domain-hex", "system"])
def test_round_trip_keeps_every_field(scope):
    original = payload(**scope)
    assert decode(encode(original)) == original


@pytest.mark.parametrize("count", [2, 3])
def test_round_trip_of_rescoped_token_keeps_its_audit_ids_in_order(count):
    original = payload(methods=("token", "password"),
                       audit_ids=tuple(new_audit_id() for _ in range(count)),
                       scope_kind="project", scope_id=PROJECT_ID)
    decoded = decode(encode(original))
    assert decoded.audit_ids == original.audit_ids
    assert decoded == original


def test_scope_properties_follow_the_scope_kind():
    project = decode(encode(payload(scope_kind="project", scope_id=PROJECT_ID)))
    domain = decode(encode(payload(scope_kind="domain", scope_id="default")))
    assert (project.project_id, project.domain_id) == (PROJECT_ID, None)
    assert (domain.project_id, domain.domain_id) == (None, "default")


@pytest.mark.parametrize("identifier", [
    "default",
    "ABCDEF0123456789ABCDEF0123456789",  # 32 hex digits, but upper case
    "0123456789abcdef 0123456789ab cd",  # 32 characters that bytes.fromhex accepts
    "0123456789abcdef0123456789abcdeg",
    "a" * 64,
    "é-ünïcode",
])
def test_ids_that_are_not_32_lowercase_hex_digits_round_trip_unchanged(identifier):
    original = payload(user_id=identifier, scope_kind="project", scope_id=identifier)
    decoded = decode(encode(original))
    assert (decoded.user_id, decoded.scope_id) == (identifier, identifier)


def test_encoding_does_not_depend_on_method_order():
    forwards = payload(methods=("password", "token"))
    backwards = dataclasses.replace(forwards, methods=("token", "password"))
    assert encode(forwards) == encode(backwards)
    assert decode(encode(forwards)).methods == ("token", "password")


def test_repeated_method_is_kept_once():
    assert decode(encode(payload(methods=("password", "password")))).methods == ("password",)


def test_unknown_method_cannot_be_encoded():
    with pytest.raises(ValueError):
        encode(payload(methods=("totp",)))


@pytest.mark.parametrize("changes", [
    {"methods": ()},
    {"audit_ids": ()},
    {"audit_ids": tuple(new_audit_id() for _ in range(4))},
    {"scope_kind": "project"},
    {"scope_id": PROJECT_ID},
], ids=["no-method", "no-audit-id", "four-audit-ids", "scope-without-id", "id-without-scope"])
def test_payload_that_could_not_be_decoded_cannot_be_encoded(changes):
    with pytest.raises(ValueError):
        encode(payload(**changes))


def test_revisions_round_trip():
    original = payload(scope_kind="project", scope_id=PROJECT_ID, user_revision=3,
                       project_revision=2**63 - 1)
    assert decode(encode(original)) == original


def version_1(original: TokenPayload) -> bytes:
    """``original`` as the code before revisions encoded it (payload version 1)."""
    mask = sum(1 << METHODS.index(method) for method in original.methods)
    scope = SCOPE_KINDS.index(original.scope_kind) + 1 if original.scope_kind else 0
    return msgpack.packb([
        1, mask, bytes.fromhex(original.user_id), scope,
        bytes.fromhex(original.scope_id) if original.scope_id else None,
        original.issued_at, original.expires_at,
        [base64.urlsafe_b64decode(audit_id + "==") for audit_id in original.audit_ids]])


@pytest.mark.parametrize("scope", [{}, {"scope_kind": "project", "scope_id": PROJECT_ID}],
                         ids=["unscoped", "project"])
def test_version_1_payload_decodes_with_revisions_0(scope):
    original = payload(methods=("token", "password"), audit_ids=(new_audit_id(), new_audit_id()),
                       **scope)
    decoded = decode(version_1(original))
    assert decoded == original
    assert (decoded.user_revision, decoded.project_revision) == (0, 0)


def test_revisions_under_128_cost_no_byte_over_version_1():
    """Fernet tokens keep their length: the header saves what the revisions take."""
    original = payload(methods=("token", "external"), audit_ids=(new_audit_id(), new_audit_id()),
                       scope_kind="project", scope_id=PROJECT_ID)
    revised = dataclasses.replace(original, user_revision=127, project_revision=127)
    assert len(encode(revised)) == len(version_1(original))


def test_project_scoped_payload_is_under_100_bytes():
    encoded = encode(payload(methods=("token", "external"),
                             audit_ids=(new_audit_id(), new_audit_id()),
                             scope_kind="project", scope_id=PROJECT_ID))
    assert len(encoded) < 100


def test_an_ec2credential_token_round_trips_one_byte_longer():
    """The fourth method's bit takes the header past one byte (a msgpack uint8)."""
    scoped = payload(scope_kind="project", scope_id=PROJECT_ID)
    ec2 = dataclasses.replace(scoped, methods=("ec2credential",))
    assert decode(encode(ec2)) == ec2
    assert len(encode(ec2)) == len(encode(scoped)) + 1


@pytest.mark.parametrize("data", [
    b"",
    b"\xc1",  # never used in msgpack
    b"garbage that is not msgpack at all \x00\xff",
    msgpack.packb("a string"),
    msgpack.packb(42),
    msgpack.packb({"version": 1}),
    msgpack.packb([1, 2, 3]),
    msgpack.packb([None] * 8),
], ids=["empty", "reserved-byte", "garbage", "string", "integer", "map", "too-short",
        "all-none"])
def test_garbage_bytes_are_malformed(data):
    with pytest.raises(MalformedPayload):
        decode(data)


@pytest.mark.parametrize("header", [0, 3, 1 | 1 << 4, 2 | 1 << len(METHODS) << 4],
                         ids=["version-0", "version-3", "version-1-bits-with-a-mask",
                              "unknown-method"])
def test_wrong_version_is_malformed(header):
    fields = msgpack.unpackb(encode(payload()))
    fields[0] = header
    with pytest.raises(MalformedPayload, match="layout"):
        decode(msgpack.packb(fields))


@pytest.mark.parametrize("index, value", [
    (0, "password"),  # header (method mask, scope kind, version) of the wrong type
    (0, 0 << 4 | 2),  # no method at all
    (0, 1 << 4 | 1 << 2 | 2),  # project scope without a project id
    (1, None),  # user id missing
    (2, "orphan"),  # scope id without a scope
    (3, "yesterday"),  # issued_at not an integer
    (4, 1.5),
    (5, "abc"),  # audit ids not a list of bytes
    (5, []),  # no audit id at all
    (5, None),
    (6, "1"),  # revisions: integers from 0 to BIGINT's maximum
    (6, True),
    (6, -1),
    (7, 2 ** 63),
    (7, 1.0),
    # Beyond what the database stores or a date can print (found by tests/fuzz): a 500 before.
    (3, -1),
    (3, 2 ** 63),
    (4, 2 ** 64 - 1),
    (4, 253_402_300_800_000_000),  # year 10000
    (1, "x" * 65),  # longer than an id column
    (1, "a\x00b"),
    (1, b"\x01" * 33),
    (5, [b"x" * 49]),
])
def test_field_of_the_wrong_type_or_range_is_malformed(index, value):
    fields = msgpack.unpackb(encode(payload()))
    fields[index] = value
    with pytest.raises(MalformedPayload):
        decode(msgpack.packb(fields))


@pytest.mark.parametrize("index, value", [
    (1, "password"),  # method mask of the wrong type
    (1, 0),  # no method at all
    (1, 1 << 7),  # only bits no method has
    (3, 4),  # scope kind out of range
    (3, -1),
    (3, 1),  # project scope without a project id
    (5, 2 ** 63),
], ids=["mask-type", "no-method", "unknown-method-bits", "scope-4", "scope--1",
        "project-without-id", "issued-at-too-big"])
def test_version_1_field_of_the_wrong_type_or_range_is_malformed(index, value):
    fields = msgpack.unpackb(version_1(payload()))
    fields[index] = value
    with pytest.raises(MalformedPayload):
        decode(msgpack.packb(fields))


def test_revision_that_could_not_be_decoded_cannot_be_encoded():
    with pytest.raises(ValueError):
        encode(payload(user_revision=-1))


def test_extra_field_is_malformed():
    with pytest.raises(MalformedPayload):
        decode(msgpack.packb([*msgpack.unpackb(encode(payload())), "extra"]))


def test_every_truncation_is_malformed():
    encoded = encode(payload(scope_kind="project", scope_id=PROJECT_ID))
    for length in range(len(encoded)):
        with pytest.raises(MalformedPayload):
            decode(encoded[:length])


def test_trailing_bytes_are_malformed():
    with pytest.raises(MalformedPayload):
        decode(encode(payload()) + b"\x00")


def test_deeply_nested_input_is_malformed_not_a_crash():
    with pytest.raises(MalformedPayload):
        decode(b"\x91" * 100_000)
