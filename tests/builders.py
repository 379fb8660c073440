"""Plain builders of requests and test data (no mocks); imported by the tests as ``builders``."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket

import pytest
import webtest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASTE_INI = os.path.join(ROOT, "etc", "keystone-lite-paste.ini")
GOLDEN = os.path.join(os.path.dirname(ROOT), "shared", "keystone-golden")
GOLDEN_NEXT = os.path.join(os.path.dirname(ROOT), "shared", "keystone-golden-next")
LOOPBACK = "127.0.0.1"  # the only address test servers listen on
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_PASSWORD = "admin-secret"

# -- request builders (plain functions, no mocks) ---------------------------------------------------

CERT_ENVIRON = {"SSL_CLIENT_VERIFY": "SUCCESS",
                "SSL_CLIENT_S_DN": "CN=alice,UID=alice,O=keystone_lite",
                "SSL_CLIENT_I_DN": "CN=keystone-lite dev CA,O=keystone_lite"}


def cert_environ(user: str) -> dict:
    """What mod_ssl with ``SSLUserName SSL_CLIENT_S_DN_UID`` puts in the environ."""
    return {**CERT_ENVIRON, "REMOTE_USER": user, "SSL_CLIENT_S_DN_UID": user,
            "SSL_CLIENT_S_DN": f"CN={user},UID={user},O=keystone_lite"}


@dataclasses.dataclass(frozen=True)
class ClientCertificate:
    """A real client certificate (signed by a throwaway CA: the web server, not the app,
    checks the chain) and the environ mod_ssl with ``+ExportCertData`` gives for it."""

    user: str
    pem: str
    thumbprint: str  # SHA-256 of the DER, hex: keystone_lite's one name for a certificate
    serial: int
    issuer_dn: str
    not_after: int  # µs since the epoch

    @property
    def environ(self) -> dict:
        return {**cert_environ(self.user), "SSL_CLIENT_CERT": self.pem,
                "SSL_CLIENT_I_DN": self.issuer_dn,
                "SSL_CLIENT_M_SERIAL": format(self.serial, "X")}


def client_certificate(user: str, *, lifetime: float = 86400.0,
                       issuer_dn: str = CERT_ENVIRON["SSL_CLIENT_I_DN"]) -> ClientCertificate:
    """A new certificate for ``user`` (UID=user), valid from now for ``lifetime`` seconds."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keystone_lite"),
                         x509.NameAttribute(NameOID.USER_ID, user),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    serial = x509.random_serial_number()
    certificate = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(x509.Name.from_rfc4514_string(issuer_dn))
                   .public_key(key.public_key()).serial_number(serial)
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(seconds=lifetime))
                   .sign(key, hashes.SHA256()))
    return ClientCertificate(
        user, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        certificate.fingerprint(hashes.SHA256()).hex(), serial, issuer_dn,
        int(certificate.not_valid_after_utc.timestamp()) * 1_000_000)


def external_auth(project: str | None = None, domain: str = "default") -> dict:
    auth = {"identity": {"methods": ["external"], "external": {}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": domain}}}
    return {"auth": auth}


def password_auth(user: str, password: str, project: str | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def admin_headers(subject: str | None = None) -> dict:
    headers = {"X-Auth-Token": ADMIN_TOKEN}
    if subject is not None:
        headers["X-Subject-Token"] = subject
    return headers


def issue(app: webtest.TestApp, user: str, project: str | None = None, **kwargs) -> str:
    """Issue a token for certificate user ``user`` and return its id."""
    response = app.post_json("/v3/auth/tokens", external_auth(project),
                             extra_environ=cert_environ(user), status=201, **kwargs)
    return response.headers["X-Subject-Token"]


def admin_token_of(app: webtest.TestApp) -> str:
    """A real token of the bootstrap admin, scoped to the admin project."""
    response = app.post_json("/v3/auth/tokens", password_auth("admin", ADMIN_PASSWORD, "admin"),
                             status=201)
    return response.headers["X-Subject-Token"]


def add_user(deployment, name: str, project: str | None = None,
             role: str | None = None, password: str | None = None) -> None:
    """Create a user through the CLI, as an operator would."""
    argv = ["user", "create", name]
    if password:
        argv += ["--password", password]
    if project:
        argv += ["--project", project, "--role", role or "member"]
    deployment.cli(*argv)


# -- token API helpers (test_v3_tokens, test_token_errors, test_golden_shapes, ...) -------------

def post_token(app: webtest.TestApp, body, user: str | None = None, status: int = 201,
               query: str = "", **kwargs) -> webtest.TestResponse:
    """POST /v3/auth/tokens with ``body``; ``user`` is the certificate user (REMOTE_USER)."""
    environ = dict(kwargs.pop("extra_environ", {}))
    if user is not None:
        environ.update(cert_environ(user))
    return app.post_json(f"/v3/auth/tokens{query}", body, extra_environ=environ,
                         status=status, **kwargs)


def token_auth(token_id: str, project: str | None = None, domain: str = "default") -> dict:
    """A ``methods: ["token"]`` (rescope) request body."""
    auth = {"identity": {"methods": ["token"], "token": {"id": token_id}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": domain}}}
    return {"auth": auth}


def subject_headers(subject: str | None, caller: str | None = ADMIN_TOKEN) -> dict:
    """X-Auth-Token ``caller`` (the admin token by default) and X-Subject-Token ``subject``."""
    headers = {}
    if caller is not None:
        headers["X-Auth-Token"] = caller
    if subject is not None:
        headers["X-Subject-Token"] = subject
    return headers


def assert_keystone_error(response: webtest.TestResponse, code: int) -> dict:
    """The response is Keystone's ``{"error": {"code", "title", "message"}}`` with ``code``."""
    assert response.status_int == code, response.body
    assert response.content_type == "application/json"
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) == {"code", "title", "message"}
    assert error["code"] == code
    assert isinstance(error["title"], str) and error["title"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def in_store(deployment, function, *args, **kwargs):
    """Run ``function(session, *args, **kwargs)`` in one transaction of the deployment's store."""
    with deployment.services().transaction() as session:
        return function(session, *args, **kwargs)


def create_domain(deployment, name: str) -> str:
    """Create an enabled domain named ``name``; returns its id."""
    from keystone_lite.db import models
    from keystone_lite.identity import store

    def create(session):
        domain = models.Domain(id=store.new_id(), name=name, description="", enabled=True)
        session.add(domain)
        session.flush()
        return domain.id
    return in_store(deployment, create)


def grant_role(deployment, user: str, target_type: str, target_id: str, role: str) -> None:
    """Grant role ``role`` to user ``user`` (default domain) on a project, domain or the system
    (``target_id`` "all")."""
    from keystone_lite.identity import store

    def grant(session):
        user_row = store.find_user(session, name=user, domain_id="default")
        role_row = store.find_role(session, name=role)
        store.grant(session, user_row.id, target_type, target_id, role_row.id)
    in_store(deployment, grant)


def project_id(deployment, name: str, domain_id: str = "default") -> str:
    from keystone_lite.identity import store
    return in_store(deployment, lambda session: store.find_project(
        session, name=name, domain_id=domain_id).id)


# -- faults and logs (tests/faults, tests/security) ------------------------------------------------

REQUEST_ID_HEADER = "X-Openstack-Request-Id"


def assert_logged_once(caplog, response: webtest.TestResponse, detail: str) -> str:
    """The server-side error behind ``response`` was logged exactly once, with the response's
    request id and ``detail``; returns the line."""
    request_id = response.headers[REQUEST_ID_HEADER]
    lines = [record.getMessage() for record in caplog.records
             if request_id in record.getMessage()]
    assert len(lines) == 1, lines
    assert detail in lines[0], lines[0]
    return lines[0]


# -- real curl output ---------------------------------------------------------------------------

@dataclasses.dataclass
class Reply:
    exit_code: int
    status: int | None
    headers: dict
    body: bytes
    stderr: str

    def json(self):
        return json.loads(self.body)


def parse_http(output: bytes) -> tuple[int | None, dict, bytes]:
    """Status, lower-cased headers and body of ``curl -i`` output."""
    if not output.startswith(b"HTTP/"):
        return None, {}, output
    head, _, body = output.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip())
                   for name, _, value in (line.partition(":") for line in lines))
    return int(status_line.split()[1]), headers, body


# -- servers started by the tests (embedded, Apache httpd, two nodes) -----------------------------

def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def is_listening(port: int) -> bool:
    """One connection attempt to ``port`` on the loopback address (0.2 s at most)."""
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
        return True
    return False


def golden(name: str) -> tuple[int, dict | None, dict]:
    """(status, body, lower-cased headers) Keystone 30 answered in the recording ``name`` of
    ``../shared/keystone-golden-next``; skips the test where shared/ is not beside the clone."""
    path = os.path.join(GOLDEN_NEXT, name)
    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    with open(path, encoding="utf-8") as handle:
        response = json.load(handle)["response"]
    return (int(response["status"].split()[0]), response["body_json"],
            {key.lower(): value for key, value in response["headers"]})


def same_shape(golden_body, ours, where: str = "$", additions=frozenset()) -> list[str]:
    """Where ``ours`` differs from Keystone's body in keys (none missing, none added but
    ``additions``) or in JSON types; a list's items take the shape of Keystone's items in
    turn, and the rest that of its last.
    Roles' ``options`` are only objects: keystone_lite has none (Keystone's bootstrap roles
    are ``immutable``)."""
    if type(golden_body) is not type(ours) and not (golden_body is None or ours is None):
        return [f"{where}: Keystone has {type(golden_body).__name__}, "
                f"we have {type(ours).__name__}"]
    problems = []
    if isinstance(golden_body, dict) and not where.endswith(".options"):  # role options: none
        if set(golden_body) != set(ours) - additions:
            problems.append(f"{where}: keys {sorted(golden_body)} != {sorted(ours)}")
        for key in set(golden_body) & set(ours):
            problems += same_shape(golden_body[key], ours[key], f"{where}.{key}", additions)
    elif isinstance(golden_body, list) and golden_body:
        problems += [problem for index, item in enumerate(ours)
                     for problem in same_shape(golden_body[min(index, len(golden_body) - 1)],
                                               item, f"{where}[{index}]", additions)]
    return problems


def assert_like_keystone(response: webtest.TestResponse, name: str) -> None:
    """Same status as the recording ``name``; every key of Keystone's body (one level into the
    entity) is ours too."""
    status, body, _headers = golden(name)
    assert response.status_int == status, response.body
    if body is None:
        return
    for key, value in body.items():
        assert key in response.json
        if isinstance(value, dict):
            assert set(value) <= set(response.json[key]), (name, key)
