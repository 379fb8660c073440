"""Issue 10, finding 7: the certificate's user name is used exactly as the server verified it,
or refused (401); never trimmed or decoded into someone else.

Environ values are WSGI "native strings" (PEP 3333): the server's bytes decoded as latin-1, so
a UTF-8 UID from mod_ssl reaches the app as ``"zoë".encode().decode("latin-1")``. ``native``
builds exactly that.
"""
from __future__ import annotations

import pytest

from keystone_lite import pki
from keystone_lite.middleware.cert_auth import Refused, identity_from_environ

from builders import cert_environ, external_auth


def native(text: str) -> str:
    """``text`` as mod_wsgi (and now the embedded server) puts it in the environ."""
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("uid", [
    "admin ", " admin", "admin\u00a0", "admin\u3000", "admin\u2028", "admin\u200b",
    "ad\u202emin", "admin\x1b[0m", "admin\x85", "admin\ue000",
    "admin\\0A",  # mod_ssl's escape of a control character ("admin\n" in the certificate)
])
def test_name_with_surrounding_space_escape_or_non_printing_character_is_refused(uid):
    with pytest.raises(Refused):
        identity_from_environ(cert_environ(native(uid)))


@pytest.mark.parametrize("source", ["REMOTE_USER", "SSL_CLIENT_S_DN_UID"])
def test_non_ascii_name_from_the_server_is_the_utf8_text(source):
    environ = {key: value for key, value in cert_environ(native("zoë")).items()
               if key != "REMOTE_USER" or source == "REMOTE_USER"}
    assert identity_from_environ(environ).remote_user == "zoë"


def test_name_that_is_not_utf8_is_refused():
    with pytest.raises(Refused, match="UTF-8"):
        identity_from_environ(cert_environ("zo\xeb"))  # the byte 0xEB alone


def test_name_that_is_not_a_native_string_is_refused():
    with pytest.raises(Refused, match="UTF-8"):
        identity_from_environ(cert_environ("zo\u0113"))  # U+0113 is no latin-1 byte


def test_internal_space_is_kept():
    assert identity_from_environ(cert_environ("jo smith")).remote_user == "jo smith"


def test_subject_with_a_second_uid_is_refused():
    environ = {**cert_environ("alice"), "SSL_CLIENT_S_DN_UID_1": "admin"}
    with pytest.raises(Refused, match="SSL_CLIENT_S_DN_UID_1"):
        identity_from_environ(environ)


def test_certificate_with_two_uids_is_refused_even_when_the_server_exports_no_uid_keys(
        tmp_path):
    directory = str(tmp_path / "pki")
    pki.ensure_ca(directory)
    issued = pki.issue_client_certificate(directory, "two", uids=("alice", "admin"))
    with open(issued.certificate, encoding="ascii") as handle:
        environ = {"REMOTE_USER": "alice", "SSL_CLIENT_VERIFY": "SUCCESS",
                   "SSL_CLIENT_CERT": handle.read()}
    with pytest.raises(Refused, match="more than one"):
        identity_from_environ(environ)
    assert identity_from_environ(environ, repeated_user_attribute="first").remote_user == "alice"


def test_non_ascii_issuer_dn_is_compared_as_utf8_text():
    from keystone_lite.dn import normalise_dn
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": native("CN=Zoë CA,O=x")}
    identity = identity_from_environ(environ, trusted_issuers=(normalise_dn("CN=Zoë CA,O=x"),))
    assert identity.issuer_dn == "CN=Zoë CA,O=x"


def test_trailing_space_uid_does_not_log_in_as_admin_and_the_reason_is_escaped(deployment):
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(), status=401,
        extra_environ=cert_environ(native("admin\u3000")))
    error = response.json["error"]
    assert error["code"] == 401 and "X-Subject-Token" not in response.headers
    assert "\\u3000" in error["message"] and "\u3000" not in error["message"]


def test_second_uid_is_used_when_the_operator_says_first(make_deployment):
    deployment = make_deployment({"cert_auth": {"repeated_user_attribute": "first"}})
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(), status=201,
        extra_environ={**cert_environ("admin"), "SSL_CLIENT_S_DN_UID_1": "alice"})
    assert response.json["token"]["user"]["name"] == "admin"


def test_second_uid_is_refused_by_default(deployment):
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(), status=401,
        extra_environ={**cert_environ("admin"), "SSL_CLIENT_S_DN_UID_1": "alice"})
    assert "more than one" in response.json["error"]["message"]


def test_unknown_repeated_user_attribute_choice_stops_start_up_naming_the_key(make_deployment):
    from keystone_lite.settings import ConfigError
    with pytest.raises(ConfigError, match=r"\[cert_auth\] repeated_user_attribute: 'last'"):
        make_deployment({"cert_auth": {"repeated_user_attribute": "last"}})
