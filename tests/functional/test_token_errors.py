"""Every way a token request can be wrong gets Keystone's JSON error with the right status, never
a 500, and never echoes the password or token it was sent."""
from __future__ import annotations

import io
import json

import pytest
import webtest

from builders import (ADMIN_PASSWORD, add_user, assert_keystone_error, cert_environ,
                      external_auth, issue, password_auth, post_token, subject_headers,
                      token_auth)

SECRET = "s3cret-Pa55word-that-must-not-leak"


def post_raw(app, body: bytes, user: str | None = "admin", status: int = 400,
             content_type: str = "application/json", query: str = ""):
    return app.post(f"/v3/auth/tokens{query}", body, content_type=content_type,
                    extra_environ=cert_environ(user) if user else {}, status=status)


def assert_not_leaked(response, *secrets: str) -> None:
    text = response.body.decode("utf-8", "replace")
    for secret in secrets:
        assert secret not in text
        for value in response.headers.values():
            assert secret not in value


# -- the body is not a JSON object ------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"auth": {"identity": ',  # Keystone's golden error-bad-json
    b"{'auth': {}}",
    b"not json",
    b'{"auth": NaN}',
    b"[" * 100_000,  # nesting deep enough to break a recursive parser
    b'{"auth": 1' + b"0" * 5000 + b"}",  # an integer too long to convert
], ids=["truncated", "single-quotes", "text", "nan", "deep", "huge-int"])
def test_malformed_json_is_400(deployment, body):
    assert_keystone_error(post_raw(deployment.main, body), 400)


def test_empty_body_is_400_expecting_auth(deployment):
    response = post_raw(deployment.main, b"")

    assert "auth" in assert_keystone_error(response, 400)["message"]


@pytest.mark.parametrize("body", [b"[]", b'[{"auth": {}}]', b'"auth"', b"42", b"null", b"true"])
def test_top_level_that_is_not_an_object_is_400(deployment, body):
    assert_keystone_error(post_raw(deployment.main, body), 400)


def test_body_that_is_not_utf8_is_400(deployment):
    body = '{"auth": {"identity": {"methods": ["extérnal"]}}}'.encode("latin-1")

    assert_keystone_error(post_raw(deployment.main, body), 400)


def test_body_with_a_lone_surrogate_escape_is_400_or_401_never_500(deployment):
    body = b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {' \
           b'"name": "\\ud800", "domain": {"id": "default"}, "password": "\\udfff"}}}}}'

    response = post_raw(deployment.main, body, status="*")

    assert response.status_int in (400, 401)
    assert_keystone_error(response, response.status_int)


# -- wrong types and missing fields at each level ---------------------------------------------

WRONG_DOCUMENTS = {
    "no-auth": {},
    "auth-null": {"auth": None},
    "auth-string": {"auth": "external"},
    "auth-list": {"auth": [{"identity": {"methods": ["external"]}}]},
    "identity-missing": {"auth": {}},
    "identity-string": {"auth": {"identity": "external"}},
    "methods-missing": {"auth": {"identity": {}}},
    "methods-string": {"auth": {"identity": {"methods": "external"}}},
    "methods-object": {"auth": {"identity": {"methods": {"external": {}}}}},
    "method-number": {"auth": {"identity": {"methods": [1]}}},
    "method-null": {"auth": {"identity": {"methods": [None]}}},
    "method-list": {"auth": {"identity": {"methods": [["external"]]}}},
    "password-missing": {"auth": {"identity": {"methods": ["password"]}}},
    "password-list": {"auth": {"identity": {"methods": ["password"], "password": []}}},
    "password-user-missing": {"auth": {"identity": {"methods": ["password"], "password": {}}}},
    "password-user-string": {"auth": {"identity": {"methods": ["password"],
                                                   "password": {"user": "admin"}}}},
    "password-value-number": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": "default"}, "password": 12345}}}}},
    "password-value-missing": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": "default"}}}}}},
    "password-value-bool": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": "default"}, "password": True}}}}},
    "user-name-and-id-missing": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"domain": {"id": "default"}, "password": "x"}}}}},
    "user-name-number": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": 7, "domain": {"id": "default"}, "password": "x"}}}}},
    "user-id-object": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": {}, "password": "x"}}}}},
    "user-domain-string": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": "default", "password": "x"}}}}},
    "user-domain-empty": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {}, "password": "x"}}}}},
    "user-domain-id-number": {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": 1}, "password": "x"}}}}},
    "token-missing": {"auth": {"identity": {"methods": ["token"]}}},
    "token-string": {"auth": {"identity": {"methods": ["token"], "token": "abc"}}},
    "token-id-missing": {"auth": {"identity": {"methods": ["token"], "token": {}}}},
    "token-id-number": {"auth": {"identity": {"methods": ["token"], "token": {"id": 5}}}},
    "scope-number": {"auth": {"identity": {"methods": ["external"]}, "scope": 1}},
    "scope-list": {"auth": {"identity": {"methods": ["external"]}, "scope": ["project"]}},
    "scope-other-string": {"auth": {"identity": {"methods": ["external"]}, "scope": "project"}},
    "scope-empty": {"auth": {"identity": {"methods": ["external"]}, "scope": {}}},
    "scope-two-kinds": {"auth": {"identity": {"methods": ["external"]}, "scope": {
        "project": {"id": "x"}, "domain": {"id": "default"}}}},
    "scope-project-string": {"auth": {"identity": {"methods": ["external"]},
                                      "scope": {"project": "admin"}}},
    "scope-project-empty": {"auth": {"identity": {"methods": ["external"]},
                                     "scope": {"project": {}}}},
    "scope-project-name-without-domain": {"auth": {"identity": {"methods": ["external"]},
                                                   "scope": {"project": {"name": "admin"}}}},
    "scope-project-id-number": {"auth": {"identity": {"methods": ["external"]},
                                         "scope": {"project": {"id": 3}}}},
    "scope-project-domain-list": {"auth": {"identity": {"methods": ["external"]}, "scope": {
        "project": {"name": "admin", "domain": ["default"]}}}},
    "scope-domain-empty": {"auth": {"identity": {"methods": ["external"]},
                                    "scope": {"domain": {}}}},
    "scope-domain-name-number": {"auth": {"identity": {"methods": ["external"]},
                                          "scope": {"domain": {"name": 0}}}},
    "scope-system-true": {"auth": {"identity": {"methods": ["external"]},
                                   "scope": {"system": True}}},
    "scope-system-all-false": {"auth": {"identity": {"methods": ["external"]},
                                        "scope": {"system": {"all": False}}}},
    "scope-system-all-string": {"auth": {"identity": {"methods": ["external"]},
                                         "scope": {"system": {"all": "true"}}}},
}


@pytest.mark.parametrize("document", WRONG_DOCUMENTS.values(), ids=WRONG_DOCUMENTS.keys())
def test_wrong_type_or_missing_field_is_400(deployment, document):
    response = post_token(deployment.main, document, user="admin", status=400)

    assert_keystone_error(response, 400)


def test_wrong_type_message_names_the_field(deployment):
    response = post_token(deployment.main, WRONG_DOCUMENTS["password-value-number"],
                          user="admin", status=400)

    assert "auth.identity.password.user.password" in assert_keystone_error(response, 400)[
        "message"]


def test_unknown_method_is_400(deployment):
    body = {"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}}

    response = post_token(deployment.main, body, user="admin", status=400)

    assert "kerberos" in assert_keystone_error(response, 400)["message"]


def test_repeated_method_is_400(deployment):
    body = {"auth": {"identity": {"methods": ["external", "external"]}}}

    assert_keystone_error(post_token(deployment.main, body, user="admin", status=400), 400)


# -- size limits ------------------------------------------------------------------------------

def oversized_body() -> bytes:
    """A valid token request padded beyond max_request_body_size (114688 bytes)."""
    body = password_auth("admin", ADMIN_PASSWORD, "admin")
    body["padding"] = "x" * 120_000
    return json.dumps(body).encode()


def test_body_over_the_limit_with_content_length_is_413(deployment):
    response = post_raw(deployment.main, oversized_body(), status=413)

    assert_keystone_error(response, 413)
    assert "X-Openstack-Request-Id" in response.headers


def test_body_just_under_the_limit_is_accepted(deployment):
    body = password_auth("admin", ADMIN_PASSWORD, "admin")
    body["padding"] = ""
    body["padding"] = "x" * (114_688 - len(json.dumps(body).encode()))
    assert len(json.dumps(body).encode()) == 114_688

    post_token(deployment.main, body, status=201)


def chunked_request(body: bytes, terminated: bool) -> webtest.TestRequest:
    """What a server that accepted a chunked upload hands the app: no CONTENT_LENGTH."""
    request = webtest.TestRequest.blank("/v3/auth/tokens", method="POST")
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["CONTENT_TYPE"] = "application/json"
    request.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.environ["wsgi.input"] = io.BytesIO(body)
    if terminated:
        request.environ["wsgi.input_terminated"] = True
    return request


def test_chunked_body_over_the_limit_is_413(deployment):
    response = chunked_request(oversized_body(), terminated=True).get_response(
        deployment.main.app)

    assert_keystone_error(response, 413)
    assert "X-Openstack-Request-Id" in response.headers


def test_chunked_body_under_the_limit_is_read(deployment):
    body = json.dumps(password_auth("admin", ADMIN_PASSWORD, "admin")).encode()

    response = chunked_request(body, terminated=True).get_response(deployment.main.app)

    assert response.status_int == 201, response.body
    assert response.json["token"]["user"]["name"] == "admin"


def test_chunked_body_the_server_did_not_terminate_is_refused_not_processed(deployment):
    # Without wsgi.input_terminated the stream may be the raw socket: reading it to its end
    # could block, so the body is not read, and the request is refused as a client error.
    response = chunked_request(oversized_body(), terminated=False).get_response(
        deployment.main.app)

    assert response.status_int in (400, 411, 413)
    assert_keystone_error(response, response.status_int)


# -- query strings ----------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["?nocatalog=maybe", "?nocatalog=2", "?nocatalog=yes%20no"])
def test_unknown_nocatalog_value_on_issue_is_400(deployment, query):
    response = post_token(deployment.main, external_auth("admin"), user="admin", query=query,
                          status=400)

    assert "nocatalog" in assert_keystone_error(response, 400)["message"]


def test_unknown_flag_values_on_validate_are_400(deployment):
    subject = issue(deployment.main, "admin", "admin")

    for query in ("?nocatalog=maybe", "?allow_expired=perhaps"):
        response = deployment.admin.get(f"/v3/auth/tokens{query}",
                                        headers=subject_headers(subject), status=400)
        assert_keystone_error(response, 400)


# -- authentication failures are bare 401s ----------------------------------------------------

def assert_401(response):
    error = assert_keystone_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Keystone uri="')
    return error


def test_unknown_project_in_scope_is_401(deployment):
    for scope in ({"project": {"name": "nosuchproject", "domain": {"id": "default"}}},
                  {"project": {"id": "0" * 32}},
                  {"project": {"name": "admin", "domain": {"id": "nosuchdomain"}}},
                  {"project": {"name": "admin", "domain": {"name": "No Such Domain"}}}):
        body = {"auth": {"identity": {"methods": ["external"]}, "scope": scope}}

        assert_401(post_token(deployment.main, body, user="admin", status=401))


def test_unknown_domain_in_scope_is_401(deployment):
    for domain in ({"id": "nosuchdomain"}, {"name": "No Such Domain"}):
        body = {"auth": {"identity": {"methods": ["external"]}, "scope": {"domain": domain}}}

        assert_401(post_token(deployment.main, body, user="admin", status=401))


def test_unknown_remote_user_is_401(deployment):
    assert_401(post_token(deployment.main, external_auth("admin"), user="nosuchuser",
                          status=401))


def test_external_method_without_remote_user_is_401(deployment):
    for body in (external_auth("admin"), {"auth": {"identity": {"methods": []}}}):
        assert_401(post_token(deployment.main, body, status=401))


def test_remote_user_header_sent_by_a_client_is_not_an_identity(deployment):
    response = post_token(deployment.main, external_auth("admin"),
                          headers={"Remote-User": "admin", "X-Remote-User": "admin"},
                          status=401)

    assert_401(response)


def test_unknown_remote_domain_is_401(deployment):
    environ = {**cert_environ("admin"), "REMOTE_DOMAIN": "nosuchdomain"}

    response = deployment.main.post_json("/v3/auth/tokens", external_auth(),
                                         extra_environ=environ, status=401)

    assert_401(response)


def test_wrong_password_is_401_and_does_not_echo_the_password(deployment):
    response = post_token(deployment.main, password_auth("admin", SECRET), status=401)

    assert_401(response)
    assert_not_leaked(response, SECRET)


def test_unknown_password_user_is_401(deployment):
    for user in ({"name": "nosuchuser", "domain": {"id": "default"}},
                 {"name": "admin", "domain": {"id": "nosuchdomain"}},
                 {"name": "admin", "domain": {"name": "No Such Domain"}},
                 {"id": "0" * 32}):
        body = {"auth": {"identity": {"methods": ["password"],
                                      "password": {"user": {**user, "password": SECRET}}}}}

        response = post_token(deployment.main, body, status=401)

        assert_401(response)
        assert_not_leaked(response, SECRET)


def test_certificate_only_user_cannot_authenticate_with_a_password(deployment):
    add_user(deployment, "alice", "demo", "member")

    # The second is what the server checks a missing hash against, to keep timing even.
    for password in (SECRET, "keystone-lite-no-password"):
        response = post_token(deployment.main, password_auth("alice", password), status=401)
        assert_401(response)


def test_bad_token_in_the_token_method_is_401_and_not_echoed(deployment):
    forged = "gAAAAAB" + "A" * 150

    response = post_token(deployment.main, token_auth(forged), status=401)

    assert_401(response)
    assert_not_leaked(response, forged)


def test_validation_errors_do_not_echo_passwords_or_tokens(deployment):
    token = issue(deployment.main, "admin", "admin")
    documents = [
        {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "admin", "domain": "default", "password": SECRET}}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": {}}},
        {"auth": {"identity": {"methods": ["password", "token"], "password": {
            "user": {"name": 5, "password": SECRET}}, "token": {"id": token}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                  "scope": {"project": {"name": SECRET}}}},
    ]
    for document in documents:
        response = post_token(deployment.main, document, status=400)

        assert_keystone_error(response, 400)
        assert_not_leaked(response, SECRET, token)


def test_errors_on_validate_do_not_echo_the_tokens(deployment):
    subject = issue(deployment.main, "admin", "admin")
    forged_caller = subject[:-4] + "AAAA"

    for headers, status in ((subject_headers(subject + "x"), 404),
                            (subject_headers(subject, forged_caller), 401)):
        response = deployment.admin.get("/v3/auth/tokens", headers=headers, status=status)

        assert_keystone_error(response, status)
        assert_not_leaked(response, subject + "x", forged_caller)


def test_content_type_is_not_required_to_parse_json(deployment):
    body = json.dumps(password_auth("admin", ADMIN_PASSWORD, "admin")).encode()

    post_raw(deployment.main, body, user=None, status=201, content_type="text/plain")
