"""Identity spoofing matrix: every way a client may pose as someone the web server did not verify.

Each case runs through the shipped pipeline (main app, ``POST /v3/auth/tokens`` with the
external method and ``POST /v2.0/tokens`` without credentials) and must be refused with a 401
in Keystone's JSON shape and a log line saying why. The accepted cases show the other side of
the same rules: an issuer DN written in the other format is the same DN, and a spoofed header
next to a verified certificate changes nothing.

Refused (13), with who refuses and what the log line says:

- identity sent as HTTP headers, no certificate: ``Remote-User``, ``X-Remote-User``,
  ``X-SSL-Client-*``, ``SSL_CLIENT_S_DN_UID``/``SSL_CLIENT_VERIFY``, ``REMOTE_USER`` (the app
  sees only ``HTTP_*`` keys) -- the token controller ("no REMOTE_USER"), after cert_auth warned
  "ignoring identity headers sent by the client: <names>";
- ``REMOTE_USER`` with ``SSL_CLIENT_VERIFY`` ``NONE``, ``GENEROUS`` or ``FAILED:...`` --
  cert_auth ("verification is '...', not 'SUCCESS'");
- an issuer not in ``trusted_issuers`` -- cert_auth ("is not in trusted_issuers");
- an empty or blank ``REMOTE_USER`` -- cert_auth ("REMOTE_USER is empty");
- ``REMOTE_USER`` naming a disabled user -- the token controller ("disabled user ...");
- ``REMOTE_USER`` naming a user who exists only in another domain -- the token controller
  ("no user ... in domain 'default'").

Accepted (3): the trusted issuer's DN printed in OpenSSL's slash form while the configuration
has RFC 4514, and the other way round; spoofed headers next to a verified certificate (the token
is the certificate's user's, and the headers are logged).

The same rules on plain environ dicts (``identity_from_environ``) are unit-tested in
tests/unit/test_cert_auth.py; test_token_errors.py and test_cert_auth.py already check the
401 of some of these cases, here every case also proves its log line.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import pytest

from builders import (CERT_ENVIRON, add_user, admin_headers, assert_keystone_error,
                      cert_environ, create_domain, external_auth)

DEV_CA = CERT_ENVIRON["SSL_CLIENT_I_DN"]  # "CN=keystone-lite dev CA,O=keystone_lite"
DEV_CA_SLASH = "/O=keystone_lite/CN=keystone-lite dev CA"
NO_REMOTE_USER = "the web server verified no client certificate (no REMOTE_USER)"


def disable_user(deployment, name: str) -> None:
    add_user(deployment, name)
    (user,) = deployment.admin.get("/v3/users", {"name": name},
                                   headers=admin_headers()).json["users"]
    deployment.admin.patch_json(f"/v3/users/{user['id']}", {"user": {"enabled": False}},
                                headers=admin_headers())


def user_in_another_domain(deployment, name: str) -> None:
    domain_id = create_domain(deployment, "elsewhere")
    deployment.admin.post_json("/v3/users", {"user": {"name": name, "domain_id": domain_id}},
                               headers=admin_headers(), status=201)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    environ: dict
    headers: dict = dataclasses.field(default_factory=dict)
    logged: tuple[str, ...] = ()  # what the log must say about the refusal
    config: dict | None = None
    setup: Callable | None = None


def spoofed(name: str, headers: dict, *names: str) -> Case:
    """Identity headers from the client, and no certificate at all."""
    return Case(name, {}, headers, ("ignoring identity headers", *names, NO_REMOTE_USER))


def certificate(name: str, logged: str, **environ) -> Case:
    """A certificate the web server reports, with ``environ`` changed."""
    return Case(name, {**cert_environ("admin"), **environ}, logged=(logged,))


REFUSED = [
    spoofed("header-remote-user", {"Remote-User": "admin"}, "REMOTE-USER"),
    spoofed("header-x-remote-user", {"X-Remote-User": "admin"}, "X-REMOTE-USER"),
    spoofed("header-x-ssl-client", {
        "X-SSL-Client-S-DN-UID": "admin", "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-S-DN": "CN=admin,UID=admin,O=keystone_lite", "X-SSL-Client-I-DN": DEV_CA},
        "X-SSL-CLIENT-S-DN-UID", "X-SSL-CLIENT-VERIFY"),
    spoofed("header-ssl-client-s-dn-uid", {"SSL_CLIENT_S_DN_UID": "admin",
                                           "SSL_CLIENT_VERIFY": "SUCCESS"},
            "SSL-CLIENT-S-DN-UID", "SSL-CLIENT-VERIFY"),
    spoofed("header-remote-user-underscores", {"REMOTE_USER": "admin"}, "REMOTE-USER"),
    certificate("verify-none", "verification is 'NONE'", SSL_CLIENT_VERIFY="NONE"),
    certificate("verify-generous", "verification is 'GENEROUS'", SSL_CLIENT_VERIFY="GENEROUS"),
    certificate("verify-failed", "verification is 'FAILED:unable to get local issuer",
                SSL_CLIENT_VERIFY="FAILED:unable to get local issuer certificate"),
    dataclasses.replace(
        certificate("untrusted-issuer", "is not in trusted_issuers",
                    SSL_CLIENT_I_DN="CN=keystone-lite dev CA,O=somebody else"),
        config={"cert_auth": {"trusted_issuers": DEV_CA}}),
    certificate("empty-remote-user", "REMOTE_USER is empty", REMOTE_USER=""),
    certificate("blank-remote-user", "REMOTE_USER is empty", REMOTE_USER="   "),
    dataclasses.replace(certificate("disabled-user", "disabled user 'dora' in domain 'default'",
                                    **cert_environ("dora")),
                        setup=lambda deployment: disable_user(deployment, "dora")),
    dataclasses.replace(certificate("user-in-another-domain-only",
                                    "no user 'erin' in domain 'default'", **cert_environ("erin")),
                        setup=lambda deployment: user_in_another_domain(deployment, "erin")),
]


def issue_attempts(deployment, case: Case) -> list[Callable]:
    """Senders of the v3 and v2.0 token requests of ``case``; each returns the response."""
    def send(path, body):
        return lambda: deployment.main.post_json(path, body, extra_environ=case.environ,
                                                 headers=case.headers, status="*")
    return [send("/v3/auth/tokens", external_auth()), send("/v2.0/tokens", {"auth": {}})]


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_spoofed_identity_is_refused_with_401_and_a_log_line_saying_why(make_deployment,
                                                                       caplog, case):
    deployment = make_deployment(case.config)
    if case.setup is not None:
        case.setup(deployment)
    caplog.set_level(logging.INFO, logger="keystone_lite")

    for attempt in issue_attempts(deployment, case):
        caplog.clear()
        response = attempt()
        error = assert_keystone_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith('Keystone uri="')
        assert "X-Subject-Token" not in response.headers
        assert "token" not in response.json and "access" not in response.json
        assert error["message"]
        logged = caplog.text
        for words in case.logged:
            assert words in logged, (case.name, logged)


ACCEPTED = [
    Case("issuer-slash-form", {**cert_environ("admin"), "SSL_CLIENT_I_DN": DEV_CA_SLASH},
         config={"cert_auth": {"trusted_issuers": DEV_CA}}),
    Case("issuer-rfc4514-form", cert_environ("admin"),
         config={"cert_auth": {"trusted_issuers": DEV_CA_SLASH}}),
    Case("header-beside-certificate", cert_environ("alice"),
         {"Remote-User": "admin", "X-Remote-User": "admin", "X-SSL-Client-S-DN-UID": "admin"},
         logged=("ignoring identity headers", "REMOTE-USER"),
         setup=lambda deployment: add_user(deployment, "alice")),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[case.name for case in ACCEPTED])
def test_the_verified_certificate_and_only_it_is_accepted(make_deployment, caplog, case):
    deployment = make_deployment(case.config)
    if case.setup is not None:
        case.setup(deployment)
    caplog.set_level(logging.INFO, logger="keystone_lite")
    certificate_user = case.environ["REMOTE_USER"]

    v3, v2 = (attempt() for attempt in issue_attempts(deployment, case))

    assert v3.status_int == 201, v3.body
    assert v3.json["token"]["user"]["name"] == certificate_user
    assert v3.json["token"]["methods"] == ["external"]
    assert v2.status_int == 200, v2.body
    assert v2.json["access"]["user"]["name"] == certificate_user
    for words in case.logged:
        assert words in caplog.text


def test_the_matrix_has_every_case_of_the_issue():
    """Issue 6 §2 lists 10 kinds of case; some have several variants here."""
    assert len(REFUSED) == 13 and len(ACCEPTED) == 3
