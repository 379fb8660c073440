"""middleware.bound_token: the filter a service puts after keystonemiddleware's auth_token, with
plain environs as auth_token leaves them (``keystone.token_info``, ``X-Identity-Status``) and
real certificates of the dev PKI. Behind real Apache with the real auth_token:
tests/httpd/test_bound_token_service.py."""
from __future__ import annotations

import configparser
import importlib
import json
import logging
import os
import ssl
import subprocess
import sys
from urllib.parse import quote

import pytest
import webob

from builders import ROOT
from keystone_lite import pki
from keystone_lite.certificates.thumbprints import keystone_x5t
from keystone_lite.middleware import bound_token
from keystone_lite.middleware.bound_token import filter_factory


@pytest.fixture(scope="module")
def pems(tmp_path_factory) -> dict:
    directory = str(tmp_path_factory.mktemp("pki"))
    pki.ensure_ca(directory)
    certificates = {}
    for name in ("alice", "alice-again"):
        with open(pki.issue_client_certificate(directory, name, uids=("alice",)).certificate,
                  encoding="ascii") as handle:
            certificates[name] = handle.read()
    return certificates


def x5t(pem: str) -> str:
    return keystone_x5t(ssl.PEM_cert_to_DER_cert(pem))


def service(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"served"]


def validated(token: dict, **environ) -> dict:
    """An environ as auth_token leaves it for a valid token with this body."""
    return {"HTTP_X_AUTH_TOKEN": "gAAAA-some-token", "HTTP_X_IDENTITY_STATUS": "Confirmed",
            bound_token.TOKEN_INFO: {"token": token}, **environ}


def bound_to(pem: str) -> dict:
    return {"methods": ["external"], "oauth2_credential": {"x5t#S256": x5t(pem)}}


def call(environ: dict, **options) -> webob.Response:
    request = webob.Request.blank("/servers", environ=environ)
    return request.get_response(filter_factory({}, **options)(service))


def assert_refused(response: webob.Response) -> None:
    assert response.status_int == 401
    assert response.content_type == "application/json"
    error = response.json["error"]
    assert (error["code"], error["title"]) == (401, "Unauthorized") and error["message"]


def test_bound_token_over_its_certificate_is_served(pems):
    response = call(validated(bound_to(pems["alice"]), SSL_CLIENT_CERT=pems["alice"]))
    assert (response.status_int, response.body) == (200, b"served")


@pytest.mark.parametrize("presented", ["alice-again", None, "not a certificate"])
def test_bound_token_over_another_or_no_certificate_gets_401(pems, presented, caplog):
    environ = validated(bound_to(pems["alice"]))
    if presented is not None:
        environ["SSL_CLIENT_CERT"] = pems.get(presented, presented)
    caplog.set_level(logging.INFO, "keystone_lite")

    assert_refused(call(environ))
    assert "bound token refused" in caplog.text
    assert "gAAAA-some-token" not in caplog.text


def test_unbound_token_passes_without_a_certificate():
    assert call(validated({"methods": ["password"]})).status_int == 200


def test_v2_token_passes(pems):
    environ = {"HTTP_X_IDENTITY_STATUS": "Confirmed",
               bound_token.TOKEN_INFO: {"access": {"token": {"id": "x"}}}}
    assert call(environ).status_int == 200


def test_request_without_a_validated_token_is_left_to_auth_token():
    """auth_token's delay_auth_decision passes invalid tokens on, marked Invalid."""
    environ = {"HTTP_X_AUTH_TOKEN": "garbage", "HTTP_X_IDENTITY_STATUS": "Invalid"}
    assert call(environ).status_int == 200
    assert call({}).status_int == 200


def test_a_pipeline_with_bound_token_before_auth_token_fails_closed(caplog):
    """A token auth_token has not looked at: bound_token cannot tell, so it refuses."""
    assert_refused(call({"HTTP_X_AUTH_TOKEN": "gAAAA-some-token"}))
    assert "put bound_token after auth_token" in caplog.text


def test_certificate_from_a_proxy_header_url_escaped(pems):
    """nginx's $ssl_client_escaped_cert, forwarded as X-SSL-Client-Cert by the proxy."""
    environ = validated(bound_to(pems["alice"]),
                        HTTP_X_SSL_CLIENT_CERT=quote(pems["alice"], safe=""))
    options = {"certificate_variable": "HTTP_X_SSL_CLIENT_CERT"}

    assert call(environ, **options).status_int == 200
    # SSL_CLIENT_CERT is not read then.
    environ = validated(bound_to(pems["alice"]), SSL_CLIENT_CERT=pems["alice"])
    assert_refused(call(environ, **options))


@pytest.mark.parametrize("status, roles, served", [
    ("Confirmed", "service", True),
    ("Confirmed", "member,service", True),
    ("Confirmed", "member", False),  # a valid token, but not a service's
    ("Invalid", "service", False),
], ids=["service", "among-others", "not-a-service", "invalid-service-token"])
def test_service_token_roles_let_a_service_forward_its_users_bound_token(pems, status, roles,
                                                                          served):
    environ = validated(bound_to(pems["alice"]), SSL_CLIENT_CERT=pems["alice-again"],
                        HTTP_X_SERVICE_IDENTITY_STATUS=status, HTTP_X_SERVICE_ROLES=roles)

    assert (call(environ, service_token_roles="service").status_int == 200) is served


def test_without_service_token_roles_a_service_token_changes_nothing(pems):
    environ = validated(bound_to(pems["alice"]), HTTP_X_SERVICE_IDENTITY_STATUS="Confirmed",
                        HTTP_X_SERVICE_ROLES="service")
    assert_refused(call(environ))


@pytest.mark.parametrize("options, message", [
    ({"certifcate_variable": "SSL_CLIENT_CERT"}, "unknown option 'certifcate_variable'"),
    ({"certificate_variable": " "}, "certificate_variable: empty"),
])
def test_bad_options_fail_at_start_up_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        filter_factory({}, **options)


def test_the_paste_entry_point_is_declared_and_loads():
    """``use = egg:keystone_lite#bound_token`` (setup.cfg; an installed keystone_lite has it)."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    entries = dict(line.split(" = ") for line in parser["options.entry_points"][
        "paste.filter_factory"].strip().splitlines() if " = " in line)
    module, _, name = entries["bound_token"].partition(":")
    assert getattr(importlib.import_module(module), name) is filter_factory


def test_importing_the_filter_loads_no_other_part_of_keystone_lite():
    """A service installs keystone_lite for this filter only: no database, web framework or
    crypto library comes with it."""
    code = ("import sys, keystone_lite.middleware.bound_token\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] in "
            "('keystone_lite', 'sqlalchemy', 'cryptography', 'webob', 'msgpack', 'orjson')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": ROOT}, check=True)
    assert json.loads(result.stdout.replace("'", '"')) == [
        "keystone_lite", "keystone_lite.certificates", "keystone_lite.certificates.thumbprints",
        "keystone_lite.middleware", "keystone_lite.middleware.bound_token"]
