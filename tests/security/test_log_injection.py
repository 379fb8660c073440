"""Issue 10, finding 11: nothing a client sends reaches a log line unescaped.

Header names, user and domain names, DNs and the method are the client's text (or a
certificate's, which is the client's too). A CR or LF would forge a log line, ESC would drive
the operator's terminal, NUL would cut the line short for some readers.
"""
from __future__ import annotations

import logging

import pytest
import webob

from keystone_lite.middleware.catch_errors import CatchErrorsMiddleware
from keystone_lite.middleware.cert_auth import CertAuthMiddleware

from builders import cert_environ, external_auth

NASTY = "\r\nERROR forged line\x1b[2J\x00\u2028\x85"


def assert_all_printable(caplog):
    lines = [record.getMessage() for record in caplog.records]
    assert lines, "nothing was logged"
    for line in lines:
        assert all(char.isprintable() for char in line), repr(line)


def ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.mark.parametrize("key", ["HTTP_REMOTE_USER" + NASTY, "HTTP_X_SSL_" + NASTY,
                                 "HTTP_SSL_CLIENT_\x1b]0;owned\x07"])
def test_identity_header_names_are_escaped_in_the_warning(caplog, key):
    caplog.set_level(logging.WARNING, logger="keystone_lite")
    request = webob.Request.blank("/v3", environ={key: "bob"})
    assert request.get_response(CertAuthMiddleware(ok_app, "SSL_CLIENT_S_DN_UID", ())
                                ).status_int == 200
    assert_all_printable(caplog)
    assert "\\r\\n" in caplog.text or "\\x1b" in caplog.text


@pytest.mark.parametrize("environ", [
    {"SSL_CLIENT_VERIFY": "FAILED:" + NASTY},
    {"SSL_CLIENT_I_DN": "CN=" + NASTY},
    {"REMOTE_USER": "alice" + NASTY},
    {"REMOTE_DOMAIN": NASTY},
])
def test_refusal_reasons_are_escaped_in_log_and_response(deployment, caplog, environ):
    caplog.set_level(logging.INFO, logger="keystone_lite")
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(), status=401,
        extra_environ={**cert_environ("alice"), **environ})
    assert all(char.isprintable() for char in response.json["error"]["message"])
    assert_all_printable(caplog)


def test_unknown_user_and_domain_names_are_escaped_in_the_info_line(deployment, caplog):
    caplog.set_level(logging.INFO, logger="keystone_lite")
    deployment.main.post_json("/v3/auth/tokens", external_auth(), status=401,
                              extra_environ=cert_environ("nobody\u00e9\u202e"))
    deployment.main.post_json("/v3/auth/tokens", external_auth(), status=401,
                              extra_environ={**cert_environ("alice"),
                                             "REMOTE_DOMAIN": "corp\u202e"})
    assert_all_printable(caplog)


def test_method_of_a_failing_request_is_escaped(caplog):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    caplog.set_level(logging.ERROR, logger="keystone_lite")
    request = webob.Request.blank("/v3", environ={"REQUEST_METHOD": "GET" + NASTY})
    assert request.get_response(CatchErrorsMiddleware(broken)).status_int == 500
    assert_all_printable(caplog)
