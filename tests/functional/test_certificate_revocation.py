"""A revoked client certificate earns nothing more, and every token it earned dies.

Tokens earned with a certificate (the ``external`` method, with the certificate exported in
SSL_CLIENT_CERT) remember which one; revoking it by thumbprint or serial, through the admin API
or keystone-lite-manage, ends them at their next validation, rescoped ones included, while the
same user's other certificates keep working. A token never outlives its certificate.
"""
from __future__ import annotations

import pytest

from builders import (admin_headers, admin_token_of, add_user, assert_keystone_error,
                      client_certificate, external_auth, in_store, password_auth, token_auth)
from keystone_lite.certificates import records

REVOCATIONS = "/v3/certificate_revocations"


def login(deployment, certificate, project: str | None = "demo", status: int = 201):
    return deployment.main.post_json("/v3/auth/tokens", external_auth(project),
                                     extra_environ=certificate.environ, status=status)


def validate(deployment, token: str, status: int = 200):
    return deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


def revoke(deployment, status: int = 201, **revocation):
    return deployment.admin.post_json(REVOCATIONS, {"certificate_revocation": revocation},
                                      headers={"X-Auth-Token": admin_token_of(deployment.main)},
                                      status=status)


@pytest.fixture
def world(deployment):
    add_user(deployment, "alice", "demo")
    add_user(deployment, "bob", "demo")
    return deployment


def test_certificate_revoked_by_thumbprint_ends_its_tokens_and_refuses_its_logins(world):
    laptop, phone = client_certificate("alice"), client_certificate("alice")
    token = login(world, laptop).headers["X-Subject-Token"]
    rescoped = world.main.post_json("/v3/auth/tokens", token_auth(token, "demo"),
                                    status=201).headers["X-Subject-Token"]
    other = login(world, phone).headers["X-Subject-Token"]
    validate(world, token)

    # As openssl prints it: upper case, with colons.
    colons = ":".join(laptop.thumbprint[i:i + 2] for i in range(0, 64, 2)).upper()
    created = revoke(world, thumbprint=colons, reason="laptop stolen").json
    assert created["certificate_revocation"]["thumbprint"] == laptop.thumbprint

    validate(world, token, 404)
    validate(world, rescoped, 404)
    assert_keystone_error(login(world, laptop, status=401), 401)
    # The user's other certificate is not the revoked one.
    assert validate(world, other).json["token"]["user"]["name"] == "alice"
    login(world, phone)


def test_certificate_revoked_by_serial_of_its_issuer_only_spares_another_issuers(world):
    ours = client_certificate("alice")
    theirs_dn = "CN=Other CA,O=elsewhere"
    token = login(world, ours).headers["X-Subject-Token"]

    revoke(world, serial=format(ours.serial, "x"), issuer_dn=theirs_dn)
    validate(world, token)  # the same serial from another CA is another certificate

    revoke(world, serial=format(ours.serial, "X"), issuer_dn=ours.issuer_dn)
    validate(world, token, 404)


def test_revoke_command_ends_the_tokens_of_a_certificate_file(world, tmp_path):
    certificate = client_certificate("bob")
    token = login(world, certificate).headers["X-Subject-Token"]
    pem = tmp_path / "bob.pem"
    pem.write_text(certificate.pem)

    world.cli("cert", "revoke", "--cert", str(pem), "--reason", "left the company")

    validate(world, token, 404)
    (row,) = in_store(world, lambda session: [
        (row.thumbprint, row.reason) for row in records.revocations(session)])
    assert row == (certificate.thumbprint, "left the company")


def test_revoked_certificate_is_refused_with_a_password_too(world):
    add_user(world, "carol", "demo", password="carol-secret-1")
    certificate = client_certificate("carol")
    world.cli("cert", "revoke", "--thumbprint", certificate.thumbprint)

    response = world.main.post_json("/v3/auth/tokens", password_auth(
        "carol", "carol-secret-1", "demo"), extra_environ=certificate.environ, status=401)

    assert_keystone_error(response, 401)
    world.main.post_json("/v3/auth/tokens", password_auth("carol", "carol-secret-1", "demo"),
                         extra_environ=client_certificate("carol").environ, status=201)


def test_revoke_command_by_serial_of_any_issuer(world):
    certificate = client_certificate("bob")
    token = login(world, certificate).headers["X-Subject-Token"]

    world.cli("cert", "revoke", "--serial", format(certificate.serial, "X"))

    validate(world, token, 404)
    login(world, certificate, status=401)


def test_token_never_outlives_the_certificate_that_earned_it(world):
    short = client_certificate("alice", lifetime=600)
    body = login(world, short).json["token"]
    from keystone_lite.token.render import isotime
    assert body["expires_at"] == isotime(short.not_after)


def test_certificate_login_without_the_certificate_exported_still_works(world):
    # Servers that do not export SSL_CLIENT_CERT (no +ExportCertData): nothing to remember.
    token = world.main.post_json("/v3/auth/tokens", external_auth("demo"),
                                 extra_environ=client_certificate("alice").environ | {
                                     "SSL_CLIENT_CERT": ""}, status=201)
    validate(world, token.headers["X-Subject-Token"])


def test_revocations_are_listed_and_read_but_never_changed(world):
    certificate = client_certificate("alice")
    admin = {"X-Auth-Token": admin_token_of(world.main)}
    created = revoke(world, thumbprint=certificate.thumbprint).json["certificate_revocation"]
    path = f"{REVOCATIONS}/{created['id']}"

    listed = world.admin.get(REVOCATIONS, headers=admin).json["certificate_revocations"]
    assert [entry["id"] for entry in listed] == [created["id"]]
    assert world.admin.get(path, headers=admin).json["certificate_revocation"] == created
    assert set(created) == {"id", "thumbprint", "serial", "issuer_dn", "reason", "revoked_at",
                            "links"}
    world.admin.patch_json(path, {"certificate_revocation": {"reason": "x"}}, headers=admin,
                           status=405)
    world.admin.delete(path, headers=admin, status=405)
    assert_keystone_error(revoke(world, status=409, thumbprint=certificate.thumbprint), 409)


@pytest.mark.parametrize("revocation", [
    {},
    {"thumbprint": "ab" * 32, "serial": "0f"},
    {"thumbprint": "not-hex"},
    {"thumbprint": "ab" * 31},
    {"serial": "xyz"},
    {"thumbprint": "ab" * 32, "issuer_dn": "CN=x"},
    {"serial": "0f", "issuer_dn": "not a DN"},
    {"serial": "0f", "reason": "r" * 256},
    {"serial": "0f", "unknown": 1},
])
def test_revocation_that_names_no_certificate_is_400(world, revocation):
    assert_keystone_error(revoke(world, status=400, **revocation), 400)


def test_revocations_need_an_admin(world):
    member = login(world, client_certificate("alice")).headers["X-Subject-Token"]
    world.admin.post_json(REVOCATIONS, {"certificate_revocation": {"serial": "0f"}},
                          headers={"X-Auth-Token": member}, status=403)
    world.admin.get(REVOCATIONS, headers={"X-Auth-Token": member}, status=403)
