"""The small filters: request_id, sizelimit, json_body and catch_errors."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest
import webob

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.middleware.catch_errors import CatchErrorsMiddleware
from keystone_lite.middleware.json_body import JsonBodyMiddleware
from keystone_lite.middleware.request_id import HEADER as REQUEST_ID_HEADER, RequestIdMiddleware
from keystone_lite.middleware.sizelimit import SizeLimitMiddleware

from builders import admin_headers, password_auth

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
LIMIT = 1024


class EchoApp:
    """Answers 200 with the body it read and remembers the request context it saw."""

    def __init__(self):
        self.calls = 0
        self.context = None

    def __call__(self, environ, start_response):
        self.calls += 1
        self.context = dict(get_context(environ))
        body = webob.Request(environ).body
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]


class UnreadableInput:
    """A wsgi.input that fails the test if anyone reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readlines = read


class TrickleInput:
    """A chunked wsgi.input as real servers give it: each read returns at most a few bytes."""

    def __init__(self, data: bytes, chunk: int = 7):
        self.stream = io.BytesIO(data)
        self.chunk = chunk

    def read(self, size=-1):
        if size is None or size < 0:
            return self.stream.read()
        return self.stream.read(min(size, self.chunk))


def chunked_request(body_input) -> webob.Request:
    """A POST whose length the server does not know (Transfer-Encoding: chunked)."""
    req = webob.Request.blank("/v3/auth/tokens", method="POST",
                              headers={"Transfer-Encoding": "chunked"})
    req.environ["wsgi.input"] = body_input
    req.environ["wsgi.input_terminated"] = True  # as mod_wsgi, cheroot and waitress say
    req.environ.pop("CONTENT_LENGTH", None)
    return req


def assert_keystone_error(response, code: int) -> dict:
    assert response.status_int == code
    assert response.content_type == "application/json"
    error = json.loads(response.body)["error"]
    assert error["code"] == code
    assert set(error) == {"code", "title", "message"}
    return error


# -- request_id -----------------------------------------------------------------------------------

def test_every_response_carries_a_request_id(deployment):
    response = deployment.main.get("/v3")
    assert REQUEST_ID.fullmatch(response.headers[REQUEST_ID_HEADER])


def test_error_responses_carry_a_request_id_too(deployment):
    response = deployment.main.get("/v3/no-such-thing", status=404)
    assert REQUEST_ID.fullmatch(response.headers[REQUEST_ID_HEADER])


def test_each_request_gets_its_own_id(deployment):
    ids = {deployment.main.get("/").headers[REQUEST_ID_HEADER] for _ in range(3)}
    assert len(ids) == 3


def test_request_id_in_context_is_the_one_sent_back():
    app = EchoApp()
    response = webob.Request.blank("/").get_response(RequestIdMiddleware(app))
    assert app.context["request_id"] == response.headers[REQUEST_ID_HEADER]


def test_client_supplied_request_id_is_not_echoed():
    response = webob.Request.blank("/", headers={REQUEST_ID_HEADER: "req-chosen"}).get_response(
        RequestIdMiddleware(EchoApp()))
    assert response.headers.getall(REQUEST_ID_HEADER) != ["req-chosen"]
    assert len(response.headers.getall(REQUEST_ID_HEADER)) == 1


# -- sizelimit ------------------------------------------------------------------------------------

def test_declared_length_over_the_limit_is_413_json_without_reading_the_body():
    app = EchoApp()
    req = webob.Request.blank("/v3/auth/tokens", method="POST")
    req.environ["wsgi.input"] = UnreadableInput()
    req.environ["CONTENT_LENGTH"] = str(LIMIT + 1)
    response = req.get_response(SizeLimitMiddleware(app, LIMIT))
    error = assert_keystone_error(response, 413)
    assert str(LIMIT) in error["message"]
    assert app.calls == 0


def test_declared_length_at_the_limit_reaches_the_app_intact():
    app = EchoApp()
    body = b"x" * LIMIT
    response = webob.Request.blank("/", method="POST", body=body).get_response(
        SizeLimitMiddleware(app, LIMIT))
    assert response.status_int == 200
    assert response.body == body


def test_chunked_body_over_the_limit_is_413():
    app = EchoApp()
    response = chunked_request(io.BytesIO(b"x" * (LIMIT * 4))).get_response(
        SizeLimitMiddleware(app, LIMIT))
    assert_keystone_error(response, 413)
    assert app.calls == 0


def test_chunked_body_arriving_in_small_reads_over_the_limit_is_413():
    app = EchoApp()
    response = chunked_request(TrickleInput(b"x" * (LIMIT + 1))).get_response(
        SizeLimitMiddleware(app, LIMIT))
    assert_keystone_error(response, 413)
    assert app.calls == 0


def test_chunked_body_under_the_limit_reaches_the_app_intact():
    body = bytes(range(256)) * 3
    response = chunked_request(io.BytesIO(body)).get_response(
        SizeLimitMiddleware(EchoApp(), LIMIT))
    assert response.status_int == 200
    assert response.body == body


def test_chunked_body_arriving_in_small_reads_reaches_the_app_intact():
    body = bytes(range(256)) * 3
    response = chunked_request(TrickleInput(body)).get_response(
        SizeLimitMiddleware(EchoApp(), LIMIT))
    assert response.status_int == 200
    assert response.body == body


def test_declared_length_body_arriving_in_small_reads_reaches_the_app_intact():
    body = bytes(range(256)) * 3
    req = webob.Request.blank("/", method="POST")
    req.environ["wsgi.input"] = TrickleInput(body)
    req.environ["CONTENT_LENGTH"] = str(len(body))
    response = req.get_response(SizeLimitMiddleware(EchoApp(), LIMIT))
    assert response.body == body


def test_body_shorter_than_declared_reaches_the_app_as_sent():
    req = webob.Request.blank("/", method="POST")
    req.environ["wsgi.input"] = io.BytesIO(b"short")
    req.environ["CONTENT_LENGTH"] = "100"
    response = req.get_response(SizeLimitMiddleware(EchoApp(), LIMIT))
    assert response.body == b"short"


def test_get_declaring_a_body_over_the_limit_is_413():
    req = webob.Request.blank("/v3/auth/tokens")
    req.environ["wsgi.input"] = UnreadableInput()
    req.environ["CONTENT_LENGTH"] = str(LIMIT + 1)
    assert_keystone_error(req.get_response(SizeLimitMiddleware(EchoApp(), LIMIT)), 413)


def test_get_body_is_left_unread_for_the_server_to_drain():
    # No API call reads the body of a GET; reading it would only cost time.
    seen = []

    def app(environ, start_response):  # like the routers: a GET's body is never looked at
        seen.append(environ["REQUEST_METHOD"])
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    req = webob.Request.blank("/v3/auth/tokens")
    req.environ["wsgi.input"] = UnreadableInput()
    req.environ["wsgi.input_terminated"] = True
    assert req.get_response(SizeLimitMiddleware(app, LIMIT)).status_int == 200
    assert seen == ["GET"]


def test_get_without_body_passes_through_unread():
    app = EchoApp()
    req = webob.Request.blank("/v3")
    req.environ["wsgi.input"] = io.BytesIO(b"")
    assert req.get_response(SizeLimitMiddleware(app, LIMIT)).status_int == 200
    assert app.calls == 1


def test_body_over_the_configured_limit_gets_413_from_the_deployed_app(deployment):
    response = deployment.main.post("/v3/auth/tokens", b"{" + b" " * 200_000 + b"}",
                                    content_type="application/json", status=413)
    assert response.json["error"]["code"] == 413
    assert response.headers[REQUEST_ID_HEADER]


def test_large_body_within_the_limit_is_processed_without_a_temporary_file(deployment):
    # webob spools bodies over 10 KiB to a temporary file nobody closes (a ResourceWarning,
    # an error here); a body within the limit is kept in memory instead.
    body = json.dumps(password_auth("admin", "x" * 50_000)).encode()
    deployment.main.post("/v3/auth/tokens", body, content_type="application/json", status=401)


# -- json_body ------------------------------------------------------------------------------------

def post_json_body(body: bytes):
    app = EchoApp()
    response = webob.Request.blank("/v3/auth/tokens", method="POST", body=body,
                                   content_type="application/json").get_response(
        CatchErrorsMiddleware(JsonBodyMiddleware(app)))
    return response, app


def test_json_object_is_parsed_into_the_context():
    response, app = post_json_body(b'{"auth": {"identity": {"methods": []}}}')
    assert response.status_int == 200
    assert app.context["json"] == {"auth": {"identity": {"methods": []}}}


def test_no_body_leaves_json_none():
    response, app = post_json_body(b"")
    assert response.status_int == 200
    assert app.context["json"] is None


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe"}', b"\xef\xbb\xbf{}", '{"name": "é"}'.encode("latin-1"),
], ids=["invalid-bytes", "utf8-bom", "latin-1"])
def test_body_that_is_not_utf8_json_is_400(body):
    response, app = post_json_body(body)
    assert_keystone_error(response, 400)
    assert app.calls == 0


@pytest.mark.parametrize("body", [b"[]", b'"auth"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_400(body):
    response, app = post_json_body(body)
    assert "object" in assert_keystone_error(response, 400)["message"]
    assert app.calls == 0


@pytest.mark.parametrize("body", [
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999}', b'{"a": -1e400}',
])
def test_non_finite_numbers_are_400(body):
    response, app = post_json_body(body)
    assert_keystone_error(response, 400)
    assert app.calls == 0


@pytest.mark.parametrize("body", [b'{"a": ', b"{'a': 1}", b'{"a": 1,}', b"{} {}",
                                  b'{"a": "' + b"9" * 5000 + b'"} x'])
def test_malformed_json_is_400(body):
    assert_keystone_error(post_json_body(body)[0], 400)


def test_huge_integer_is_400_not_500():
    # Python refuses int() of more than 4300 digits with ValueError.
    assert_keystone_error(post_json_body(b'{"a": ' + b"9" * 5000 + b"}")[0], 400)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' * 15_000,
                                  b"[" * 50_000 + b"]" * 50_000])
def test_very_deep_nesting_is_400_not_a_crash(body):
    assert_keystone_error(post_json_body(body)[0], 400)


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udfffb"', '{"\\udc00": 1}'])
def test_lone_surrogate_escape_is_400(text):
    response, app = post_json_body(('{"name": ' + text + "}").encode())
    assert_keystone_error(response, 400)
    assert app.calls == 0


def test_surrogate_pair_escape_is_accepted():
    response, app = post_json_body(b'{"name": "\\ud83d\\ude00"}')
    assert response.status_int == 200
    assert app.context["json"] == {"name": "\U0001F600"}


def test_lone_surrogate_in_a_password_login_is_400_from_the_deployed_app(deployment):
    body = json.dumps(password_auth("admin\ud800", "x")).encode()  # json.dumps escapes it
    response = deployment.main.post("/v3/auth/tokens", body, content_type="application/json",
                                    status=400)
    assert response.json["error"]["code"] == 400


def test_deep_nesting_is_400_from_the_deployed_app(deployment):
    response = deployment.main.post("/v3/auth/tokens", b"[" * 100_000,
                                    content_type="application/json", status=400)
    assert response.json["error"]["code"] == 400


# -- catch_errors ---------------------------------------------------------------------------------

def failing_app(exception):
    def app(environ, start_response):
        raise exception
    return app


def test_unexpected_exception_is_json_500_without_detail_and_logged_with_request_id(caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    app = RequestIdMiddleware(CatchErrorsMiddleware(failing_app(RuntimeError("secret detail"))))
    response = webob.Request.blank("/v3/auth/tokens").get_response(app)
    error = assert_keystone_error(response, 500)
    assert "secret detail" not in response.text
    assert error["title"] == "Internal Server Error"
    request_id = response.headers[REQUEST_ID_HEADER]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert request_id in record.getMessage()
    assert record.exc_info and record.exc_info[0] is RuntimeError  # the traceback is logged


def test_unexpected_exception_log_line_leaves_out_the_path(caplog):
    # v2.0 paths carry token ids, which must never reach a log line.
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    app = CatchErrorsMiddleware(failing_app(RuntimeError("boom")))
    webob.Request.blank("/v2.0/tokens/gAAAAAsecret-token-id").get_response(app)
    assert "gAAAAAsecret-token-id" not in caplog.records[0].getMessage()


@pytest.mark.parametrize("error, code", [
    (errors.ValidationError("bad field"), 400),
    (errors.Unauthorized("who are you"), 401),
    (errors.Forbidden("not you"), 403),
    (errors.TokenNotFound(), 404),
    (errors.MethodNotAllowed(["GET"]), 405),
    (errors.Conflict("already"), 409),
    (errors.RequestTooLarge(), 413),
    (errors.ServiceUnavailable(), 503),
])
def test_keystone_errors_are_rendered_with_their_code_title_and_message(error, code):
    response = webob.Request.blank("/v3/x").get_response(
        CatchErrorsMiddleware(failing_app(error)))
    rendered = assert_keystone_error(response, code)
    assert (rendered["title"], rendered["message"]) == (error.title, error.message)


def test_unauthorized_carries_www_authenticate_with_the_mount_point():
    app = RequestIdMiddleware(CatchErrorsMiddleware(failing_app(errors.Unauthorized())))
    response = webob.Request.blank("/v3/auth/tokens", base_url="http://kl.example:5000/main"
                                   ).get_response(app)
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://kl.example:5000/main/v3"'


@pytest.mark.parametrize("host", ["kl.example\x13", "kl example", 'kl.example"',
                                  "k\xc3\xa9.example", "kl.example:5000\x00"])
def test_a_host_header_that_is_no_host_is_not_copied_into_www_authenticate(host):
    """Found by tests/fuzz: a control character reached a response header (PEP 3333 forbids
    them there); the server's own name stands in for such a Host."""
    app = RequestIdMiddleware(CatchErrorsMiddleware(failing_app(errors.Unauthorized())))
    request = webob.Request.blank("/v3/auth/tokens", base_url="http://kl.example:5000/main")
    request.environ["HTTP_HOST"] = host
    response = request.get_response(app)
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://kl.example:5000/main/v3"'


@pytest.mark.parametrize("host", ["kl.example", "kl.example:5000", "10.0.0.1:35357", "[::1]:5000",
                                  "xn--k-9fa.example"])
def test_a_host_header_that_is_a_host_names_the_links(host):
    app = RequestIdMiddleware(CatchErrorsMiddleware(failing_app(errors.Unauthorized())))
    request = webob.Request.blank("/v3/auth/tokens", base_url="http://server:8080/main")
    request.environ["HTTP_HOST"] = host
    response = request.get_response(app)
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="http://{host}/main/v3"'


def test_method_not_allowed_carries_allow():
    response = webob.Request.blank("/").get_response(
        CatchErrorsMiddleware(failing_app(errors.MethodNotAllowed(["GET", "HEAD"]))))
    assert response.headers["Allow"] == "GET, HEAD"


def test_keystone_errors_are_not_logged_as_unexpected(caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    webob.Request.blank("/").get_response(
        CatchErrorsMiddleware(failing_app(errors.TokenNotFound())))
    assert not caplog.records


@pytest.mark.parametrize("exception, code", [(RuntimeError("secret detail"), 500),
                                             (errors.TokenNotFound(), 404)])
def test_head_error_responses_have_no_body(exception, code):
    response = webob.Request.blank("/", method="HEAD").get_response(
        CatchErrorsMiddleware(failing_app(exception)))
    assert response.status_int == code
    assert response.body == b""


def test_head_of_unknown_token_on_the_deployed_app_has_no_body(deployment):
    response = deployment.admin.head("/v3/auth/tokens", headers=admin_headers("nope"),
                                     status=404)
    assert response.body == b""
