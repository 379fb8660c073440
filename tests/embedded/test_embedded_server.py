"""The embedded server end to end: real TLS, real client certificates, the real curl binary.

One ``keystone-lite serve`` process (module scope) serves an installation made with the CLI and
the dev PKI; ``keystone-lite quickstart`` runs in its own processes. Every server listens on
127.0.0.1 only, every call has a timeout, and every process is stopped in a ``finally``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import http.client
import io
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509

from keystone_lite import pki, server
from keystone_lite.cli import manage

from builders import (ADMIN_TOKEN, LOOPBACK as HOST, Reply, external_auth, free_port,
                      is_listening, parse_http)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

START_TIMEOUT = 30
STOP_TIMEOUT = 15


# -- helpers -------------------------------------------------------------------------------------




def curl(url: str, *options: str) -> Reply:
    result = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *options, url],
                            capture_output=True, timeout=20)
    return Reply(result.returncode, *parse_http(result.stdout), result.stderr.decode())


def post_json(url: str, document: dict, *options: str) -> Reply:
    return curl(url, *options, "-H", "Content-Type: application/json",
                "-d", json.dumps(document))


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> int:
    """Stop ``process`` (killing it if it does not stop in time); returns its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    return process.returncode


def wait_listening(process: subprocess.Popen, port: int, log_path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path, encoding="utf-8") as log:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read()}")
        if is_listening(port):
            return
        time.sleep(0.05)
    pytest.fail(f"server not listening on {HOST}:{port} after {START_TIMEOUT} s")


def cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


def cert_options(issued: pki.Issued, ca: str) -> list[str]:
    return ["--cacert", ca, "--cert", issued.certificate, "--key", issued.key]


# -- the served installation --------------------------------------------------------------------

@dataclasses.dataclass
class Installation:
    base: str
    ca: str
    alice: pki.Issued
    stranger: pki.Issued
    alice_from_other_ca: pki.Issued

    def alice_options(self) -> list[str]:
        return cert_options(self.alice, self.ca)


def database_lines(url: str | None) -> str:
    """The [database] section for ``url`` (the test run's PostgreSQL); nothing for SQLite."""
    return f"\n[database]\nconnection = {url}\n" if url else ""


@pytest.fixture(scope="module")
def installation(tmp_path_factory, database_backend):
    """``keystone-lite serve`` on a free port for alice (member of demo) and a non-user."""
    directory = tmp_path_factory.mktemp("embedded")
    config = str(directory / "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\ndata_dir = data\nadmin_token = {ADMIN_TOKEN}\n"
                     + database_lines(database_backend.create()))
    port = free_port()
    base = f"https://{HOST}:{port}"
    cli(config, "db_sync")
    cli(config, "fernet_setup")
    cli(config, "bootstrap", "--bootstrap-public-url", f"{base}/main/v3",
        "--bootstrap-internal-url", f"{base}/main/v3", "--bootstrap-admin-url",
        f"{base}/admin/v3")
    cli(config, "user", "create", "alice", "--project", "demo", "--role", "member")
    cli(config, "pki", "setup")
    pki_dir = str(directory / "data" / "pki")
    other_ca = str(directory / "other-pki")
    pki.ensure_ca(other_ca)
    installed = Installation(
        base=base, ca=os.path.join(pki_dir, "ca.crt"),
        alice=pki.issue_client_certificate(pki_dir, "alice"),
        stranger=pki.issue_client_certificate(pki_dir, "mallory"),
        alice_from_other_ca=pki.issue_client_certificate(other_ca, "alice"))

    log_path = str(directory / "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", HOST, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(process, port, log_path)
        yield installed
    finally:
        status = stop(process)
    assert status == 0, "keystone-lite serve did not stop cleanly on SIGTERM"


def issue_for_alice(installation: Installation, *extra: str) -> Reply:
    return post_json(f"{installation.base}/main/v3/auth/tokens", external_auth("demo"),
                     *installation.alice_options(), *extra)


# -- (a)-(g): the token API through TLS ---------------------------------------------------------

def test_certificate_login_returns_201_and_a_token(installation):
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth("demo"),
                      "--cacert", installation.ca, "--cert", installation.alice.combined)
    assert reply.status == 201, reply
    assert reply.headers["x-subject-token"]
    token = reply.json()["token"]
    assert (token["user"]["name"], token["methods"]) == ("alice", ["external"])
    assert token["project"]["name"] == "demo"


@pytest.mark.parametrize("tls, exit_code", [(["--tlsv1.3"], 56),
                                            (["--tlsv1.2", "--tls-max", "1.2"], 35)])
def test_without_client_certificate_the_handshake_fails(installation, tls, exit_code):
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth("demo"),
                      "--cacert", installation.ca, *tls)
    assert (reply.exit_code, reply.status) == (exit_code, None), reply


def test_same_subject_from_an_untrusted_ca_fails_the_handshake(installation):
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth("demo"),
                      *cert_options(installation.alice_from_other_ca, installation.ca))
    assert reply.exit_code in (35, 56) and reply.status is None, reply
    assert "unknown ca" in reply.stderr


def test_valid_certificate_of_an_unknown_user_gets_401_json(installation):
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth("demo"),
                      *cert_options(installation.stranger, installation.ca))
    assert reply.status == 401
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["error"]["code"] == 401


def test_token_from_main_validates_on_admin_and_is_revoked_there(installation):
    token = issue_for_alice(installation).headers["x-subject-token"]
    admin = f"{installation.base}/admin/v3/auth/tokens"
    headers = ["-H", f"X-Auth-Token: {ADMIN_TOKEN}", "-H", f"X-Subject-Token: {token}"]

    validated = curl(admin, *installation.alice_options(), *headers)
    assert validated.status == 200, validated
    assert validated.json()["token"]["user"]["name"] == "alice"
    assert curl(admin, *installation.alice_options(), *headers, "-X", "DELETE").status == 204
    assert curl(admin, *installation.alice_options(), *headers).status == 404


def test_spoofed_remote_user_header_does_not_change_who_logs_in(installation):
    reply = issue_for_alice(installation, "-H", "Remote-User: bob",
                            "-H", "SSL-Client-S-DN-UID: bob")
    assert reply.status == 201
    assert reply.json()["token"]["user"]["name"] == "alice"


def test_v2_tenant_name_login_with_the_certificate(installation):
    reply = post_json(f"{installation.base}/main/v2.0/tokens", {"auth": {"tenantName": "demo"}},
                      *installation.alice_options())
    assert reply.status == 200, reply
    access = reply.json()["access"]
    assert (access["user"]["name"], access["token"]["tenant"]["name"]) == ("alice", "demo")


def test_discovery_links_use_the_mount_and_https(installation):
    reply = curl(f"{installation.base}/admin/v3", *installation.alice_options())
    links = reply.json()["version"]["links"]
    assert {"rel": "self", "href": f"{installation.base}/admin/v3/"} in links


# -- the environ the application sees ----------------------------------------------------------

def echo_environ(environ, start_response):
    """A test application answering with the string-valued keys of its environ."""
    body = json.dumps({key: value for key, value in environ.items()
                       if isinstance(value, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory) -> str:
    directory = str(tmp_path_factory.mktemp("echo") / "pki")
    pki.ensure_ca(directory)
    pki.ensure_server_certificate(directory)
    pki.issue_client_certificate(directory, "alice")
    return directory


@contextlib.contextmanager
def echo_server(pki_dir: str, require_client_certificate: bool):
    """The embedded server in a thread of this process, with ``echo_environ`` at /echo."""
    files = server.TLSFiles(os.path.join(pki_dir, "server.crt"),
                            os.path.join(pki_dir, "server.key"), os.path.join(pki_dir, "ca.crt"))
    httpd = server.make_server({"/echo": echo_environ}, files, "SSL_CLIENT_S_DN_UID", HOST, 0,
                               require_client_certificate, threads=2)
    httpd.prepare()
    thread = threading.Thread(target=httpd.serve, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{httpd.bind_addr[1]}/echo"
    finally:
        httpd.stop()
        thread.join(STOP_TIMEOUT)


def client_files(pki_dir: str, user: str) -> list[str]:
    clients = os.path.join(pki_dir, "clients")
    return ["--cacert", os.path.join(pki_dir, "ca.crt"),
            "--cert", os.path.join(clients, f"{user}.crt"),
            "--key", os.path.join(clients, f"{user}.key")]


def test_app_environ_has_mod_ssl_keys_from_the_verified_certificate(pki_dir):
    with open(os.path.join(pki_dir, "clients", "alice.crt"), encoding="ascii") as handle:
        pem = handle.read()
    serial = x509.load_pem_x509_certificate(pem.encode()).serial_number
    with echo_server(pki_dir, require_client_certificate=True) as url:
        reply = curl(f"{url}/v3?x=1", *client_files(pki_dir, "alice"),
                     "-H", "Remote-User: bob", "-H", "SSL-Client-S-DN-UID: bob")
    environ = reply.json()
    assert {key: environ.get(key) for key in (
        "REMOTE_USER", "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN",
        "SSL_CLIENT_S_DN_UID", "SSL_CLIENT_S_DN_CN", "SSL_CLIENT_M_SERIAL", "SSL_CLIENT_CERT",
        "HTTPS", "wsgi.url_scheme", "SCRIPT_NAME", "PATH_INFO",
        "HTTP_REMOTE_USER", "HTTP_SSL_CLIENT_S_DN_UID")} == {
        "REMOTE_USER": "alice", "SSL_CLIENT_VERIFY": "SUCCESS",
        "SSL_CLIENT_S_DN": "CN=alice,UID=alice,O=keystone_lite dev",
        "SSL_CLIENT_I_DN": "CN=keystone_lite dev CA,O=keystone_lite dev",
        "SSL_CLIENT_S_DN_UID": "alice", "SSL_CLIENT_S_DN_CN": "alice",
        "SSL_CLIENT_M_SERIAL": serial.to_bytes((serial.bit_length() + 7) // 8, "big").hex()
        .upper(),
        "SSL_CLIENT_CERT": pem, "HTTPS": "on", "wsgi.url_scheme": "https",
        "SCRIPT_NAME": "/echo", "PATH_INFO": "/v3",
        "HTTP_REMOTE_USER": "bob", "HTTP_SSL_CLIENT_S_DN_UID": "bob"}
    assert environ["SSL_PROTOCOL"].startswith("TLSv1.")
    assert environ["SSL_SERVER_S_DN"] == "CN=localhost,O=keystone_lite dev"
    assert environ["SSL_SERVER_SAN_DNS_0"] == "localhost"


def test_optional_verification_without_certificate_sets_no_identity(pki_dir):
    with echo_server(pki_dir, require_client_certificate=False) as url:
        reply = curl(url, "--cacert", os.path.join(pki_dir, "ca.crt"),
                     "-H", "Remote-User: bob")
    environ = reply.json()
    assert environ["SSL_CLIENT_VERIFY"] == "NONE"
    assert "REMOTE_USER" not in environ and "SSL_CLIENT_S_DN" not in environ
    assert environ["HTTP_REMOTE_USER"] == "bob"


def test_optional_verification_still_refuses_an_untrusted_certificate(pki_dir, tmp_path):
    other = str(tmp_path / "other")
    pki.ensure_ca(other)
    stranger = pki.issue_client_certificate(other, "alice")
    with echo_server(pki_dir, require_client_certificate=False) as url:
        reply = curl(url, *cert_options(stranger, os.path.join(pki_dir, "ca.crt")))
    assert reply.exit_code in (35, 56) and reply.status is None, reply


def test_plain_http_on_the_tls_port_gets_a_400_hint(pki_dir):
    with echo_server(pki_dir, require_client_certificate=True) as url:
        reply = curl(url.replace("https://", "http://"))
    assert reply.status == 400, reply
    assert "HTTPS only" in reply.json()["error"]["message"]


# -- HTTP/1.1 as clients use it (keystoneauth keeps connections open; curl -T sends chunks) -------

def test_two_requests_on_one_connection_and_head_with_content_length(pki_dir):
    with echo_server(pki_dir, require_client_certificate=True) as url:
        # curl(URL, *options) puts URL last: here, after --next, as the second request's.
        reply = curl(f"{url}/second", *client_files(pki_dir, "alice"), "-v", f"{url}/first",
                     "--next", "-sSiI", *client_files(pki_dir, "alice"))
    assert reply.exit_code == 0 and "Re-using existing connection" in reply.stderr, reply
    first, _, second = reply.body.partition(b"HTTP/1.1 200 OK")
    assert json.loads(first)["PATH_INFO"] == "/first", reply
    assert b"Content-Length: " in second and second.endswith(b"\r\n\r\n"), reply


def test_a_chunked_request_body_reaches_the_app_with_its_length(pki_dir):
    with echo_server(pki_dir, require_client_certificate=True) as url:
        reply = curl(url, *client_files(pki_dir, "alice"), "-H", "Transfer-Encoding: chunked",
                     "-d", "x" * 5000)
    assert reply.status == 200, reply
    assert reply.json()["CONTENT_LENGTH"] == "5000"


def test_a_path_outside_the_mounts_gets_404_json(pki_dir):
    with echo_server(pki_dir, require_client_certificate=True) as url:
        reply = curl(url.replace("/echo", "/elsewhere"), *client_files(pki_dir, "alice"))
    assert reply.status == 404 and reply.json()["error"]["code"] == 404, reply


# -- quickstart ---------------------------------------------------------------------------------

@contextlib.contextmanager
def quickstart(env: dict, port: int):
    """Run ``keystone-lite quickstart``; yields (printed curl command, output so far)."""
    script = os.path.join(os.path.dirname(sys.executable), "keystone-lite")
    process = subprocess.Popen([script, "quickstart", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                              daemon=True)
    reader.start()
    output = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not output or not output[-1].startswith("curl "):
            try:
                output.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                pytest.fail("quickstart printed no curl command:\n" + "".join(output))
        yield output[-1].strip(), "".join(output)
    finally:
        status = stop(process, signal.SIGINT)
        reader.join(STOP_TIMEOUT)
        process.stdout.close()
    assert status == 0, "".join(output)


def run_printed_command(command: str) -> Reply:
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30)
    return Reply(result.returncode, *parse_http(result.stdout), result.stderr.decode())


def test_quickstart_prints_a_working_curl_command_and_keeps_data_on_rerun(tmp_path,
                                                                          empty_database):
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[DEFAULT]\ndata_dir = data\n" + database_lines(empty_database))
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": str(config)}
    env.pop("KEYSTONE_LITE_PASTE", None)

    with quickstart(env, free_port()) as (command, output):
        first = run_printed_command(command)
    assert first.status == 201, (first, output)
    assert first.headers["x-subject-token"]
    user = first.json()["token"]["user"]
    assert user["name"] == "demo" and first.json()["token"]["project"]["name"] == "demo"
    credential_keys = tmp_path / "data" / "credential-keys"
    keys = {path.name: path.read_bytes() for path in credential_keys.iterdir()}
    assert sorted(keys) == ["0", "1"]  # the credentials API works out of the box

    with quickstart(env, free_port()) as (command, output):
        second = run_printed_command(command)
    assert second.status == 201, (second, output)
    assert second.json()["token"]["user"]["id"] == user["id"]
    assert {path.name: path.read_bytes() for path in credential_keys.iterdir()} == keys
    assert "user 'demo' exists; kept" in output and "(CA kept)" in output


# -- the certificate's UID exactly, or refused ---------------------------------------------------

# Certificates an attacker's CA-issued subject might carry; each would have logged in as admin
# (or, for two UIDs, as the first one) when names were trimmed.
ODD_UIDS = {"trailing-space": ("admin ",), "nbsp": ("admin\u00a0",),
            "ideographic-space": ("admin\u3000",), "two-uids": ("admin", "alice"),
            "escaped-newline": ("admin\n",)}


@pytest.mark.parametrize("name", sorted(ODD_UIDS))
def test_certificate_with_an_odd_uid_gets_401_not_a_token(installation, name):
    issued = pki.issue_client_certificate(os.path.dirname(installation.ca), name,
                                          uids=ODD_UIDS[name])
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth(),
                      *cert_options(issued, installation.ca))
    assert reply.status == 401, reply
    assert reply.json()["error"]["code"] == 401 and "x-subject-token" not in reply.headers


def test_non_ascii_uid_logs_in_as_that_exact_user(installation):
    created = post_json(f"{installation.base}/admin/v3/users", {"user": {"name": "zoë"}},
                        *installation.alice_options(), "-H", f"X-Auth-Token: {ADMIN_TOKEN}")
    assert created.status == 201, created
    issued = pki.issue_client_certificate(os.path.dirname(installation.ca), "zoe",
                                          uids=("zoë",))
    reply = post_json(f"{installation.base}/main/v3/auth/tokens", external_auth(),
                      *cert_options(issued, installation.ca))
    assert reply.status == 201, reply
    assert reply.json()["token"]["user"]["name"] == "zoë"


def test_app_environ_holds_native_strings_and_numbers_repeated_uids_like_mod_wsgi(pki_dir):
    # PEP 3333: the server's bytes decoded as latin-1, which is what mod_wsgi hands over.
    pki.issue_client_certificate(pki_dir, "zoe", uids=("zoë", "admin"))
    with echo_server(pki_dir, require_client_certificate=True) as url:
        environ = curl(url, *client_files(pki_dir, "zoe")).json()
    as_mod_wsgi = "zoë".encode("utf-8").decode("latin-1")
    assert (environ["REMOTE_USER"], environ["SSL_CLIENT_S_DN_UID"],
            environ["SSL_CLIENT_S_DN_UID_1"]) == (as_mod_wsgi, as_mod_wsgi, "admin")
    assert environ["SSL_CLIENT_S_DN"] == f"CN=zoe,UID=admin,UID={as_mod_wsgi},O=keystone_lite dev"


# -- HTTP/1.1 on the wire: framing, 100-continue, limits (raw requests, as a client could send) ---

def no_content(environ, start_response):
    start_response("204 No Content", [("Content-Type", "application/json")])
    return [b""]


def split_header(environ, start_response):
    """A faulty application: a CR LF in a header value would start a header of its own."""
    start_response("200 OK", [("X-Note", "a\r\nSet-Cookie: session=1")])
    return [b"{}"]


@contextlib.contextmanager
def raw_client(pki_dir: str):
    """A connection factory to ``echo_server``'s port: (TLS socket with alice's certificate)."""
    files = server.TLSFiles(os.path.join(pki_dir, "server.crt"),
                            os.path.join(pki_dir, "server.key"), os.path.join(pki_dir, "ca.crt"))
    httpd = server.make_server({"/echo": echo_environ, "/empty": no_content,
                                "/split": split_header}, files,
                               "SSL_CLIENT_S_DN_UID", HOST, 0, threads=2)
    httpd.prepare()
    thread = threading.Thread(target=httpd.serve, daemon=True)
    thread.start()
    context = ssl.create_default_context(cafile=os.path.join(pki_dir, "ca.crt"))
    clients = os.path.join(pki_dir, "clients")
    context.load_cert_chain(os.path.join(clients, "alice.crt"), os.path.join(clients, "alice.key"))

    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection((HOST, httpd.bind_addr[1]), 10)
        return context.wrap_socket(raw, server_hostname="localhost")

    try:
        yield connect
    finally:
        httpd.stop()
        thread.join(STOP_TIMEOUT)


def read_until_closed(sock: ssl.SSLSocket, within: float = 10) -> bytes:
    """What the server sends until it closes the connection (``within`` seconds at most)."""
    data, deadline = b"", time.monotonic() + within
    with contextlib.suppress(OSError):
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            if not (chunk := sock.recv(65536)):
                return data
            data += chunk
    pytest.fail(f"the server did not close the connection; it sent {data[:300]!r}")


class _Unclosable(io.BytesIO):
    def close(self):
        pass


def parse_responses(raw: bytes, *methods: str) -> list[tuple[int, dict, bytes]]:
    """One (status, lower-cased headers, body) per request method, and nothing left over."""
    source = _Unclosable(raw)
    replies = []
    for method in methods:
        response = http.client.HTTPResponse(
            type("Sock", (), {"makefile": lambda self, mode: source})(), method=method)
        response.begin()
        replies.append((response.status, {name.lower(): value
                                           for name, value in response.getheaders()},
                        response.read()))
    assert source.read() == b"", raw
    return replies


def exchange(connect, data: bytes, *methods: str) -> list[tuple[int, dict, bytes]]:
    with connect() as sock:
        sock.sendall(data)
        return parse_responses(read_until_closed(sock), *methods)


def assert_error(reply: tuple[int, dict, bytes], code: int) -> None:
    status, headers, body = reply
    assert status == code and headers["content-type"] == "application/json", reply
    assert headers["connection"] == "close" and int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert set(error) == {"code", "title", "message"} and error["code"] == code, reply


@pytest.fixture(scope="module")
def connect(pki_dir):
    with raw_client(pki_dir) as factory:
        yield factory


def test_keep_alive_serves_pipelined_requests_until_connection_close(connect):
    replies = exchange(connect, b"GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"HEAD /echo/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /echo/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       "GET", "HEAD", "GET", "GET")
    (first, one, one_body), (head, two, two_body), (empty, three, _), (last, four, body) = replies
    assert (first, head, empty, last) == (200, 200, 204, 200), replies
    assert json.loads(one_body)["PATH_INFO"] == "/1" and "connection" not in one
    assert two_body == b"" and int(two["content-length"]) > 0 and "date" in two
    assert "content-length" not in three
    assert json.loads(body)["PATH_INFO"] == "/4" and four["connection"] == "close"


def test_http_1_0_gets_one_request_per_connection(connect):
    (reply,) = exchange(connect, b"GET /echo HTTP/1.0\r\n\r\n", "GET")
    assert reply[0] == 200 and reply[1]["connection"] == "close", reply
    assert json.loads(reply[2])["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_headers_with_underscores_are_dropped_and_repeated_ones_joined(connect):
    (reply,) = exchange(connect, b"GET /echo?a=%20 HTTP/1.1\r\nHost: x\r\nX_Spoof: 1\r\n"
                        b"X-Real:  1 \r\nX-Real: 2\r\nConnection: close\r\n\r\n", "GET")
    environ = json.loads(reply[2])
    assert "HTTP_X_SPOOF" not in environ and environ["HTTP_X_REAL"] == "1,2", environ
    assert (environ["QUERY_STRING"], environ["SERVER_PROTOCOL"]) == ("a=%20", "HTTP/1.1")
    assert "CONTENT_LENGTH" not in environ


def test_expect_100_continue_is_answered_only_for_a_body_within_the_limit(connect):
    with connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 5\r\nConnection: close\r\n\r\n")
        sock.settimeout(10)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(b"hello")
        (reply,) = parse_responses(interim.partition(b"\r\n\r\n")[2] + read_until_closed(sock),
                                   "POST")
    assert reply[0] == 200 and json.loads(reply[2])["CONTENT_LENGTH"] == "5", reply

    with connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 200000\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 413 "), raw
    assert_error(parse_responses(raw, "POST")[0], 413)


def test_a_chunked_body_over_the_limit_gets_413(connect):
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    (reply,) = exchange(connect, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 2, "POST")
    assert_error(reply, 413)


def test_a_chunked_body_with_extensions_and_trailers_is_read(connect):
    (reply,) = exchange(connect, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n"
                        b"0\r\nX-Trailer: t\r\n\r\n", "POST")
    assert reply[0] == 200 and json.loads(reply[2])["CONTENT_LENGTH"] == "5", reply


@pytest.mark.parametrize("request_bytes, code", [
    (b"GET /echo\r\n\r\n", 400),
    (b"GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", 400),
    (b"GET /e cho HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
    (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 413),
])
def test_malformed_unsupported_or_oversized_requests_get_keystone_json(connect, request_bytes,
                                                                         code):
    (reply,) = exchange(connect, request_bytes, "GET")
    assert_error(reply, code)



@pytest.mark.parametrize("extra, code", [(0, 200), (1, 414)])
def test_the_request_line_limit_counts_the_whole_line(connect, extra, code):
    target = b"/echo?" + b"a" * (8190 - len(b"GET /echo? HTTP/1.1") + extra)
    (reply,) = exchange(connect, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n", "GET")
    assert reply[0] == code, reply


@pytest.mark.parametrize("extra, code", [(0, 200), (1, 431)])
def test_the_field_size_limit_counts_name_colon_space_and_value(connect, extra, code):
    field = b"X-Big: " + b"a" * (8190 - len(b"X-Big: ") + extra)
    (reply,) = exchange(connect, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + field +
                        b"\r\nConnection: close\r\n\r\n", "GET")
    assert reply[0] == code, reply


def test_a_header_value_from_the_app_with_cr_lf_is_never_sent(connect):
    (reply,) = exchange(connect, b"GET /split HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
    assert_error(reply, 500)
    assert "set-cookie" not in reply[1]
