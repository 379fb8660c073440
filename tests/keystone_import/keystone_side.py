"""Set up a real OpenStack Keystone on SQLite, fill it through its own API, and write what a
keystone_lite import must reproduce as JSON.

    python keystone_side.py setup DIRECTORY     # keystone.conf, keys, db_sync, bootstrap, data
    python keystone_side.py change DIRECTORY    # a change made in Keystone between two imports

Runs with the Python of a virtualenv holding ``keystone`` (tests/keystone_import/conftest.py
makes one); never imported by the test process. Keystone runs in this process, driven through
its WSGI app as a client would drive it. ``DIRECTORY/expected.json`` then holds: the users and
their passwords, the application credentials and their secrets, the tokens Keystone issued
(with what Keystone's own validation says of each), and ``GET /v3/role_assignments?effective``
per user.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import wsgiref.util

ADMIN_PASSWORD = "bootstrap-secret-1"
CATALOG_URL = "http://127.0.0.1:5000/v3"


def config(directory: str) -> str:
    path = os.path.join(directory, "keystone.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"""[DEFAULT]
log_file = {directory}/keystone.log

[database]
connection = sqlite:///{directory}/keystone.db

[token]
provider = fernet
expiration = 7200

[fernet_tokens]
key_repository = {directory}/fernet-keys

[credential]
key_repository = {directory}/credential-keys

[identity]
password_hash_rounds = 10
""")
    return path


def manage(directory: str, path: str, *argv: str) -> None:
    binary = os.path.join(os.path.dirname(sys.executable), "keystone-manage")
    subprocess.run([binary, "--config-file", path, *argv], check=True, timeout=300,
                   capture_output=True)


class Keystone:
    """Keystone's WSGI app, called in process."""

    def __init__(self, path: str):
        os.environ["OS_KEYSTONE_CONFIG_FILES"] = path
        argv, sys.argv = sys.argv, sys.argv[:1]
        try:
            from keystone.server import wsgi
            self.app = wsgi.initialize_public_application()
        finally:
            sys.argv = argv

    def call(self, method, path, token=None, body=None, expect=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path.split("?")[0],
                   "QUERY_STRING": path.partition("?")[2], "CONTENT_LENGTH": str(len(data)),
                   "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(data),
                   "HTTP_HOST": "127.0.0.1:5000", "REMOTE_ADDR": "127.0.0.1"}
        wsgiref.util.setup_testing_defaults(environ)
        if token:
            environ["HTTP_X_AUTH_TOKEN"] = token
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        started = {}

        def start_response(status, response_headers, exc_info=None):
            started["status"] = int(status.split()[0])
            started["headers"] = {k.lower(): v for k, v in response_headers}

        result = self.app(environ, start_response)
        content = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        if expect is not None and started["status"] != expect:
            raise SystemExit(f"{method} {path} {data[:300]!r}: {started['status']} {content[:400]!r}")
        document = json.loads(content) if content else None
        return started["status"], started["headers"], document

    def token(self, auth: dict, expect=201) -> tuple[str, dict]:
        _, headers, document = self.call("POST", "/v3/auth/tokens", body={"auth": auth},
                                         expect=expect)
        return headers["x-subject-token"], document["token"]


def password_auth(user_id: str, password: str, scope: dict | None = None) -> dict:
    auth = {"identity": {"methods": ["password"],
                         "password": {"user": {"id": user_id, "password": password}}}}
    if scope:
        auth["scope"] = scope
    return auth


def set_hash_algorithm(name: str) -> None:
    import keystone.conf
    keystone.conf.CONF.set_override("password_hash_algorithm", name, group="identity")


def populate(ks: Keystone, directory: str) -> dict:
    _, admin = ks.token(password_auth(_id(ks, "admin"), ADMIN_PASSWORD,
                                      {"system": {"all": True}}))
    admin_token = _
    call = lambda *a, **k: ks.call(*a, token=admin_token, **k)[2]  # noqa: E731
    roles = {r["name"]: r["id"] for r in call("GET", "/v3/roles")["roles"]}
    for name in ("observer", "auditor", "operator"):
        roles[name] = call("POST", "/v3/roles", body={"role": {"name": name}},
                           expect=201)["role"]["id"]
    call("PUT", f"/v3/roles/{roles['observer']}/implies/{roles['auditor']}", expect=201)
    acme = call("POST", "/v3/domains", body={"domain": {"name": "acme", "description": "ACME"}},
                expect=201)["domain"]
    beta = call("POST", "/v3/domains", body={"domain": {"name": "beta"}}, expect=201)["domain"]
    acme_role = call("POST", "/v3/roles", body={"role": {"name": "acme-ops", "domain_id":
                                                         acme["id"]}}, expect=201)["role"]
    call("PUT", f"/v3/roles/{acme_role['id']}/implies/{roles['reader']}", expect=201)

    def project(name, domain, parent=None, **extra):
        body = {"name": name, "domain_id": domain, **extra}
        if parent:
            body["parent_id"] = parent
        return call("POST", "/v3/projects", body={"project": body}, expect=201)["project"]["id"]

    demo = project("demo", "default", tags=["blue", "green"], ticket="OPS-1")
    eng = project("eng", acme["id"], description="Engineering")
    web = project("eng-web", acme["id"], parent=eng, tags=["web"])
    lab = project("lab", beta["id"])

    users, passwords = {}, {}
    for name, domain, algorithm, extra in (
            ("alice", "default", "bcrypt", {"email": "alice@example.com"}),
            ("bob", acme["id"], "scrypt", {}),
            ("carol", acme["id"], "pbkdf2_sha512", {}),
            ("dave", "default", "bcrypt_sha256", {}),
            ("erin", beta["id"], "bcrypt", {"options": {"ignore_lockout_failure_attempts":
                                                        True}}),
            ("frank", "default", "bcrypt", {})):
        set_hash_algorithm(algorithm)
        password = f"{name}-pass-{algorithm}"
        body = {"name": name, "domain_id": domain, "password": password, **extra}
        if name == "alice":
            body["default_project_id"] = demo
        users[name] = call("POST", "/v3/users", body={"user": body}, expect=201)["user"]["id"]
        passwords[name] = password
    set_hash_algorithm("bcrypt")
    devs = call("POST", "/v3/groups", body={"group": {"name": "devs", "domain_id": acme["id"]}},
                expect=201)["group"]["id"]
    for name in ("bob", "carol"):
        call("PUT", f"/v3/groups/{devs}/users/{users[name]}", expect=204)

    def grant(path):
        call("PUT", path, expect=204)

    grant(f"/v3/projects/{demo}/users/{users['alice']}/roles/{roles['member']}")
    grant(f"/v3/projects/{demo}/users/{users['alice']}/roles/{roles['observer']}")
    grant(f"/v3/projects/{demo}/users/{users['frank']}/roles/{roles['member']}")
    grant(f"/v3/projects/{demo}/users/{users['dave']}/roles/{roles['reader']}")
    grant(f"/v3/domains/{acme['id']}/users/{users['bob']}/roles/{roles['admin']}")
    grant(f"/v3/domains/{acme['id']}/users/{users['carol']}/roles/{acme_role['id']}")
    grant(f"/v3/projects/{eng}/groups/{devs}/roles/{roles['member']}")
    grant(f"/v3/OS-INHERIT/domains/{acme['id']}/groups/{devs}/roles/{roles['reader']}"
          "/inherited_to_projects")
    grant(f"/v3/OS-INHERIT/projects/{eng}/users/{users['carol']}/roles/{roles['operator']}"
          "/inherited_to_projects")
    grant(f"/v3/projects/{lab}/users/{users['erin']}/roles/{roles['member']}")
    grant(f"/v3/system/users/{users['erin']}/roles/{roles['reader']}")
    grant(f"/v3/system/groups/{devs}/roles/{roles['auditor']}")

    # The catalog: a second service, a child region.
    call("POST", "/v3/regions", body={"region": {"id": "RegionTwo", "parent_region_id":
                                                 "RegionOne", "description": "two"}},
         expect=201)
    compute = call("POST", "/v3/services", body={"service": {"type": "compute", "name": "nova",
                                                             "description": "VMs"}},
                   expect=201)["service"]["id"]
    for interface in ("public", "internal"):
        call("POST", "/v3/endpoints", body={"endpoint": {
            "service_id": compute, "interface": interface, "region_id": "RegionTwo",
            "url": f"http://nova.example.com/{interface}/v2.1"}}, expect=201)
    registered = call("POST", "/v3/registered_limits", body={"registered_limits": [{
        "service_id": compute, "resource_name": "cores", "default_limit": 10,
        "region_id": "RegionTwo"}]}, expect=201)["registered_limits"][0]["id"]
    call("POST", "/v3/limits", body={"limits": [{
        "service_id": compute, "resource_name": "cores", "resource_limit": 20,
        "region_id": "RegionTwo", "project_id": demo}]}, expect=201)
    del registered

    # What users make with their own tokens.
    alice_token, _ = ks.token(password_auth(users["alice"], passwords["alice"],
                                            {"project": {"id": demo}}))
    credential = ks.call("POST", f"/v3/users/{users['alice']}/application_credentials",
                         token=alice_token, expect=201, body={"application_credential": {
                             "name": "ci", "description": "CI runner",
                             "roles": [{"name": "member"}],
                             "access_rules": [{"service": "compute", "method": "GET",
                                               "path": "/v2.1/servers"}]}})[2][
        "application_credential"]
    wide = ks.call("POST", f"/v3/users/{users['alice']}/application_credentials",
                   token=alice_token, expect=201, body={"application_credential": {
                       "name": "wide", "unrestricted": True}})[2]["application_credential"]
    trust = ks.call("POST", "/v3/OS-TRUST/trusts", token=alice_token, expect=201, body={
        "trust": {"trustor_user_id": users["alice"], "trustee_user_id": users["frank"],
                  "project_id": demo, "impersonation": False, "roles": [{"name": "member"}],
                  "allow_redelegation": True, "redelegation_count": 2}})[2]["trust"]
    ec2 = ks.call("POST", "/v3/credentials", token=alice_token, expect=201, body={
        "credential": {"user_id": users["alice"], "project_id": demo, "type": "ec2",
                       "blob": json.dumps({"access": "a1ccess", "secret": "s3cret"})}}
                  )[2]["credential"]
    totp = ks.call("POST", "/v3/credentials", token=alice_token, expect=201, body={
        "credential": {"user_id": users["alice"], "type": "totp", "blob": "GEZDGNBVGY3TQOJQ"}}
                   )[2]["credential"]

    tokens = issue_tokens(ks, users, passwords, roles, demo, eng, web, acme, credential, wide,
                          trust)
    return {"users": users, "passwords": passwords, "roles": roles,
            "projects": {"demo": demo, "eng": eng, "eng-web": web, "lab": lab},
            "domains": {"acme": acme["id"], "beta": beta["id"]}, "group": devs,
            "application_credentials": {
                "ci": {"id": credential["id"], "secret": credential["secret"],
                       "user": users["alice"], "project": demo},
                "wide": {"id": wide["id"], "secret": wide["secret"], "user": users["alice"],
                         "project": demo}},
            "trust": trust["id"],
            "credentials": {"ec2": {"id": ec2["id"], "blob": ec2["blob"]},
                            "totp": {"id": totp["id"], "blob": totp["blob"]}},
            "tokens": tokens, "admin_password": ADMIN_PASSWORD,
            "admin": _id(ks, "admin")}


def issue_tokens(ks, users, passwords, roles, demo, eng, web, acme, credential, wide, trust):
    """Tokens of each kind Keystone's API issues here; each with Keystone's own view of it."""
    auth = lambda name, scope=None: password_auth(users[name], passwords[name], scope)  # noqa
    made = {}
    made["unscoped"] = ks.token(auth("alice"))
    made["project"] = ks.token(auth("alice", {"project": {"id": demo}}))
    made["project_by_name"] = ks.token(auth("bob", {"project": {"name": "eng", "domain": {
        "name": "acme"}}}))
    made["inherited_project"] = ks.token(auth("carol", {"project": {"id": web}}))
    made["domain"] = ks.token(auth("bob", {"domain": {"id": acme["id"]}}))
    made["domain_specific_role"] = ks.token(auth("carol", {"domain": {"id": acme["id"]}}))
    made["system"] = ks.token(auth("erin", {"system": {"all": True}}))
    made["rescoped"] = ks.token({"identity": {"methods": ["token"], "token": {
        "id": made["unscoped"][0]}}, "scope": {"project": {"id": demo}}})
    made["trust"] = ks.token({"identity": {"methods": ["password"], "password": {"user": {
        "id": users["frank"], "password": passwords["frank"]}}},
        "scope": {"OS-TRUST:trust": {"id": trust["id"]}}})
    for name, cred in (("application_credential", credential), ("unrestricted", wide)):
        made[name] = ks.token({"identity": {"methods": ["application_credential"],
                                            "application_credential": {
                                                "id": cred["id"], "secret": cred["secret"]}}})
    # For the revocation tests: killed on keystone_lite after the import.
    made["to_delete"] = ks.token(auth("alice", {"project": {"id": demo}}))
    made["of_disabled_user"] = ks.token(auth("dave", {"project": {"id": demo}}))
    made["of_password_changer"] = ks.token(auth("frank", {"project": {"id": demo}}))
    made["revoked_in_keystone"] = ks.token(auth("alice", {"project": {"id": demo}}))
    ks.call("DELETE", "/v3/auth/tokens", token=made["project"][0], expect=204,
            headers={"X-Subject-Token": made["revoked_in_keystone"][0]})
    tokens = {}
    for name, (token_id, body) in made.items():
        tokens[name] = {"id": token_id, "user": body["user"]["id"],
                        "expires_at": body["expires_at"], "methods": body["methods"],
                        "roles": sorted(r["name"] for r in body.get("roles", [])),
                        "project": body.get("project", {}).get("id"),
                        "domain": body.get("domain", {}).get("id"),
                        "system": bool(body.get("system")),
                        "trust": body.get("OS-TRUST:trust", {}).get("id"),
                        "application_credential": body.get("application_credential",
                                                           {}).get("id"),
                        "audit_ids": body["audit_ids"]}
    tokens["revoked_in_keystone"]["revoked"] = True
    return tokens


def crafted_tokens(data: dict) -> dict:
    """Tokens of the payload versions Keystone's API does not give this deployment (federated,
    OAuth1, OAuth2 mTLS), made by Keystone's own token formatter with its keys."""
    from keystone.token import token_formatters
    from keystone.common import utils
    from keystone.token.provider import random_urlsafe_str
    formatter = token_formatters.TokenFormatter()
    expires = utils.isotime(at=__import__("datetime").datetime.utcfromtimestamp(
        time.time() + 3600), subsecond=True)
    users, projects, domains = data["users"], data["projects"], data["domains"]
    made = {}

    def create(name, payload_class, methods, **kw):
        arguments = dict(payload_class=getattr(token_formatters, payload_class + "Payload"),user_id=kw.pop("user"), expires_at=expires, audit_ids=[
            random_urlsafe_str()], methods=methods, system=None, domain_id=None,
            project_id=None, trust_id=None, federated_group_ids=None,
            identity_provider_id=None, protocol_id=None, access_token_id=None,
            app_cred_id=None, thumbprint=None)
        arguments.update(kw)
        made[name] = formatter.create_token(**arguments)

    create("federated_unscoped", "FederatedUnscoped", ["mapped"], user=users["bob"],
           federated_group_ids=[{"id": data["group"]}], identity_provider_id="idp",
           protocol_id="saml2")
    create("federated_project", "FederatedProjectScoped", ["mapped"], user=users["bob"], project_id=projects["eng"],
           federated_group_ids=[{"id": data["group"]}], identity_provider_id="idp",
           protocol_id="saml2")
    create("federated_domain", "FederatedDomainScoped", ["mapped"], user=users["bob"], domain_id=domains["acme"],
           federated_group_ids=[{"id": data["group"]}], identity_provider_id="idp",
           protocol_id="saml2")
    create("oauth1", "OauthScoped", ["oauth1"], user=users["alice"], project_id=projects["demo"],
           access_token_id="0123456789abcdef0123456789abcdef")
    create("oauth2_mtls", "Oauth2CredentialsScoped", ["application_credential"], user=users["alice"],
           project_id=projects["demo"], domain_id="default",
           thumbprint="dGh1bWJwcmludC1vZi1jZXJ0aWZpY2F0ZQ")
    create("formatter_project", "ProjectScoped", ["password"], user=users["alice"], project_id=projects["demo"])
    create("formatter_domain", "DomainScoped", ["password", "token"], user=users["bob"],
           domain_id=domains["acme"])
    return made


def _id(ks: Keystone, name: str) -> str:
    from keystone.common import provider_api
    return provider_api.ProviderAPIs.identity_api.get_user_by_name(name, "default")["id"]


def effective_assignments(ks: Keystone, data: dict) -> dict:
    _, _, document = ks.call("POST", "/v3/auth/tokens", body={"auth": password_auth(
        data["admin"], ADMIN_PASSWORD, {"system": {"all": True}})}, expect=201)
    _, headers, _ = ks.call("POST", "/v3/auth/tokens", body={"auth": password_auth(
        data["admin"], ADMIN_PASSWORD, {"system": {"all": True}})}, expect=201)
    admin = headers["x-subject-token"]
    result = {}
    for name, user_id in {**data["users"], "admin": data["admin"]}.items():
        listed = ks.call("GET", f"/v3/role_assignments?effective&user.id={user_id}",
                         token=admin, expect=200)[2]["role_assignments"]
        result[name] = sorted(_assignment_key(a) for a in listed)
        # Keystone's effective listing leaves system roles out; its system-scoped token
        # carries them (direct, through groups, implied): those are added from it.
        password = ADMIN_PASSWORD if name == "admin" else data["passwords"].get(name)
        if password is None:
            continue
        status, _, document = ks.call("POST", "/v3/auth/tokens", body={"auth": password_auth(
            user_id, password, {"system": {"all": True}})})
        if status == 201:
            result[name] += sorted(f"{user_id} system:all {role['id']}"
                                   for role in document["token"]["roles"])
    return result


def _assignment_key(assignment: dict) -> str:
    scope = assignment["scope"]
    if "project" in scope:
        target = "project:" + scope["project"]["id"]
    elif "domain" in scope:
        target = "domain:" + scope["domain"]["id"]
    else:
        target = "system:all"
    return f"{assignment['user']['id']} {target} {assignment['role']['id']}"


def setup(directory: str) -> None:
    started = time.monotonic()
    path = config(directory)
    manage(directory, path, "db_sync")
    user = str(os.getuid())
    group = str(os.getgid())
    import pwd, grp  # noqa: E401
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    manage(directory, path, "fernet_setup", "--keystone-user", user, "--keystone-group", group)
    manage(directory, path, "credential_setup", "--keystone-user", user,
           "--keystone-group", group)
    manage(directory, path, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
           "--bootstrap-region-id", "RegionOne", "--bootstrap-public-url", CATALOG_URL,
           "--bootstrap-internal-url", CATALOG_URL, "--bootstrap-admin-url", CATALOG_URL)
    ks = Keystone(path)
    data = populate(ks, directory)
    data["crafted_tokens"] = crafted_tokens(data)
    data["effective"] = effective_assignments(ks, data)
    data["seconds"] = round(time.monotonic() - started, 1)
    _write(directory, "expected.json", data)


def change(directory: str) -> None:
    """What an operator does in Keystone between two imports."""
    ks = Keystone(os.path.join(directory, "keystone.conf"))
    with open(os.path.join(directory, "expected.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    _, headers, _ = ks.call("POST", "/v3/auth/tokens", body={"auth": password_auth(
        data["admin"], ADMIN_PASSWORD, {"system": {"all": True}})}, expect=201)
    admin = headers["x-subject-token"]
    call = lambda *a, **k: ks.call(*a, token=admin, **k)[2]  # noqa: E731
    grace = call("POST", "/v3/users", expect=201, body={"user": {
        "name": "grace", "domain_id": data["domains"]["beta"], "password": "grace-pass"}}
                 )["user"]["id"]
    call("PUT", f"/v3/projects/{data['projects']['lab']}/users/{grace}/roles/"
                f"{data['roles']['member']}", expect=204)
    call("PATCH", f"/v3/projects/{data['projects']['eng']}", expect=200,
         body={"project": {"description": "Engineering, renamed"}})
    call("DELETE", f"/v3/projects/{data['projects']['eng-web']}/users/"
                   f"{data['users']['carol']}/roles/{data['roles']['operator']}", expect=404)
    call("DELETE", f"/v3/projects/{data['projects']['demo']}/users/{data['users']['dave']}"
                   f"/roles/{data['roles']['reader']}", expect=204)
    data["passwords"]["grace"] = "grace-pass"
    data["users"]["grace"] = grace
    _write(directory, "changed.json", {"grace": grace, "grace_password": "grace-pass",
                                       "effective": effective_assignments(ks, data)})


def _write(directory: str, name: str, data: dict) -> None:
    with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    try:
        {"setup": setup, "change": change}[sys.argv[1]](sys.argv[2])
    except BaseException:
        # Keystone's logging set-up can swallow the interpreter's own report.
        import traceback
        traceback.print_exc(file=sys.__stderr__)
        sys.__stderr__.flush()
        os._exit(1)
