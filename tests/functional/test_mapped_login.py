"""Certificate logins through mapping rules (issue 13, item 4): the rules name an existing user by
name, id or email, a domain and groups (whose roles reach the token), provision a shadow user
on a first login, and refuse, with the reason logged, a certificate no rule matches. The
certificates are real (cert_builders) and reach the app as the web server exports them."""
from __future__ import annotations

import json
import logging
import os
import threading

import pytest

import cert_builders
from builders import (add_user, assert_keystone_error, create_domain, external_auth,
                      password_auth, post_token, subject_headers)
from cert_builders import certificate, name
from keystone_lite.certificates import mapping_store
from keystone_lite.settings import ConfigError
from test_identity_parity import ADMIN, create

UID = "SSL_CLIENT_SUBJECT_DN_UID"
CORP_CA_ONLY = {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Corp CA"]}
BY_UID = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": UID}, CORP_CA_ONLY]}]
# Keystone 30's recorded OAuth2 mapping (keystone-golden-next/oauth2-mapping-put.json).
KEYSTONE_OAUTH2_RULES = [{"local": [{"user": {"name": "{0}", "id": "{1}",
                                              "domain": {"name": "{2}"}}}],
                          "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_CN"},
                                     {"type": "SSL_CLIENT_SUBJECT_DN_UID"},
                                     {"type": "SSL_CLIENT_SUBJECT_DN_O"}]}]


@pytest.fixture
def mapped(make_deployment, tmp_path):
    """``mapped(rules, **cert_auth)``: a deployment whose certificate logins use ``rules``
    (a mapping file), with more [cert_auth] options."""
    def make(rules, **options):
        path = tmp_path / f"rules-{len(list(tmp_path.glob('rules-*')))}.json"
        path.write_text(json.dumps(rules), encoding="utf-8")
        return make_deployment({"cert_auth": {"mapping_file": str(path), **options}})
    return make


def login(app, cert, project=None, status=201):
    """POST /v3/auth/tokens (external) with ``cert``; ``status="*"`` takes any answer."""
    return app.post_json("/v3/auth/tokens", external_auth(project), status=status,
                         extra_environ=cert_builders.environ(cert),
                         expect_errors=status == "*" or status >= 400)


def user_id(app, user: str) -> str:
    (found,) = app.get(f"/v3/users?name={user}", headers=ADMIN).json["users"]
    return found["id"]


def role_id(app, role: str) -> str:
    (found,) = app.get(f"/v3/roles?name={role}", headers=ADMIN).json["roles"]
    return found["id"]


def refusal_logged(caplog, response) -> str:
    """The one log line of a refused login, with the request id; returns it."""
    request_id = response.headers["X-Openstack-Request-Id"]
    lines = [record.getMessage() for record in caplog.records
             if request_id in record.getMessage() and "mapping rules" in record.getMessage()]
    assert len(lines) == 1, caplog.text
    return lines[0]


# -- who the rules name ------------------------------------------------------------------------

def test_the_rules_name_an_existing_user_by_name(mapped):
    deployment = mapped(BY_UID)
    add_user(deployment, "alice", "demo")
    token = login(deployment.main, certificate(name(("O", "Example"), ("UID", "alice"))),
                  "demo").json["token"]
    assert token["user"]["name"] == "alice" and token["methods"] == ["external"]
    assert token["project"]["name"] == "demo"


def test_the_rules_alone_say_who_the_certificate_is_not_its_uid(mapped):
    rules = [{"local": [{"user": {"name": "{0}"}}],
              "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_CN"}]}]
    deployment = mapped(rules)
    add_user(deployment, "alice", "demo")
    add_user(deployment, "bob", "demo")
    token = login(deployment.main, certificate(name(("UID", "alice"), ("CN", "bob")))
                  ).json["token"]
    assert token["user"]["name"] == "bob"


def test_keystones_oauth2_mapping_names_a_user_by_id_name_and_domain(make_deployment, caplog):
    deployment = make_deployment({"cert_auth": {"mapping_id": "oauth2_mapping"}})
    deployment.admin.put_json("/v3/OS-FEDERATION/mappings/oauth2_mapping",
                              {"mapping": {"rules": KEYSTONE_OAUTH2_RULES}}, headers=ADMIN,
                              status=201)
    add_user(deployment, "oauth2-user", "demo")
    user = user_id(deployment.admin, "oauth2-user")
    cert = certificate(name(("O", "Default"), ("UID", user), ("CN", "oauth2-user")))
    assert login(deployment.main, cert).json["token"]["user"]["id"] == user

    caplog.set_level(logging.INFO, logger="keystone_lite")
    wrong_name = certificate(name(("O", "Default"), ("UID", user), ("CN", "someone")))
    refused = login(deployment.main, wrong_name, status=401)
    assert_keystone_error(refused, 401)
    assert f"user {user} is named 'oauth2-user', not 'someone'" in refusal_logged(caplog,
                                                                                 refused)
    wrong_domain = certificate(name(("O", "Nowhere"), ("UID", user), ("CN", "oauth2-user")))
    assert "no domain name 'Nowhere'" in refusal_logged(
        caplog, login(deployment.main, wrong_domain, status=401))


def test_the_rules_name_a_user_by_email_from_a_certificate_without_uid(mapped):
    rules = [{"local": [{"user": {"email": "{0}"}}],
              "remote": [{"type": "SSL_CLIENT_SAN_EMAIL"}, CORP_CA_ONLY]}]
    deployment = mapped(rules)
    created = create(deployment.admin, "users", "user", name="frank",
                     email="frank@example.test")
    create(deployment.admin, "users", "user", name="frankie", email="frankie@example.test")
    cert = certificate(name(("O", "Example"), ("CN", "Frank")), emails=("frank@example.test",))
    assert "REMOTE_USER" not in cert_builders.environ(cert)  # no UID: no user attribute
    token = login(deployment.main, cert).json["token"]
    assert token["user"]["id"] == created["id"]


def test_a_domain_object_puts_the_user_in_that_domain(mapped):
    rules = [{"local": [{"user": {"name": "{0}"}}, {"domain": {"name": "corp"}}],
              "remote": [{"type": UID}]}]
    deployment = mapped(rules)
    corp = create_domain(deployment, "corp")
    add_user(deployment, "gina", "demo")  # the default domain's gina is not the one
    corp_gina = create(deployment.admin, "users", "user", name="gina", domain_id=corp)
    token = login(deployment.main, certificate(name(("UID", "gina")))).json["token"]
    assert token["user"]["id"] == corp_gina["id"]
    assert token["user"]["domain"] == {"id": corp, "name": "corp"}


def test_a_disabled_user_is_refused(mapped, caplog):
    deployment = mapped(BY_UID)
    add_user(deployment, "hank", "demo")
    deployment.admin.patch_json(f"/v3/users/{user_id(deployment.admin, 'hank')}",
                                {"user": {"enabled": False}}, headers=ADMIN)
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = login(deployment.main, certificate(name(("UID", "hank"))), status=401)
    assert "is disabled" in refusal_logged(caplog, refused)


# -- groups --------------------------------------------------------------------------------------

GROUP_RULES = [{"local": [{"user": {"name": "{0}"}},
                          {"groups": "{1}", "domain": {"name": "Default"}}],
                "remote": [{"type": UID}, {"type": "SSL_CLIENT_SUBJECT_DN_OU"}]}]


def test_groups_named_by_the_rules_give_their_roles_in_the_token_and_follow_the_certificate(
        mapped, caplog):
    deployment = mapped(GROUP_RULES)
    admin = deployment.admin
    add_user(deployment, "ivan")  # no role anywhere of its own
    add_user(deployment, "owner", "ops-project")
    project = admin.get("/v3/projects?name=ops-project", headers=ADMIN).json["projects"][0]
    ops = create(admin, "groups", "group", name="ops")
    create(admin, "groups", "group", name="dev")
    qa = create(admin, "groups", "group", name="qa")
    admin.put(f"/v3/projects/{project['id']}/groups/{ops['id']}/roles/"
              f"{role_id(admin, 'member')}", headers=ADMIN, status=204)
    ivan = user_id(admin, "ivan")
    admin.put(f"/v3/groups/{qa['id']}/users/{ivan}", headers=ADMIN, status=204)  # by hand

    caplog.set_level(logging.WARNING, logger="keystone_lite")
    ops_cert = certificate(name(("OU", "ops"), ("OU", "dev"), ("OU", "ghosts"),
                                ("UID", "ivan")))
    response = login(deployment.main, ops_cert, "ops-project")
    token = response.json["token"]
    assert {role["name"] for role in token["roles"]} >= {"member"}
    groups = {group["name"] for group in admin.get(f"/v3/users/{ivan}/groups",
                                                   headers=ADMIN).json["groups"]}
    assert groups == {"ops", "dev", "qa"}
    assert "group 'ghosts' of domain name 'Default', which does not exist" in caplog.text

    # A certificate without OU=ops: the mapping's ops membership goes, and with it the role of
    # the token the first certificate earned; the membership made by hand stays.
    login(deployment.main, certificate(name(("OU", "dev"), ("UID", "ivan"))))
    groups = {group["name"] for group in admin.get(f"/v3/users/{ivan}/groups",
                                                   headers=ADMIN).json["groups"]}
    assert groups == {"dev", "qa"}
    admin.get("/v3/auth/tokens", headers=subject_headers(response.headers["X-Subject-Token"]),
              status=404)


def test_a_mapped_membership_an_administrator_adds_again_is_theirs_and_stays(mapped):
    deployment = mapped(GROUP_RULES)
    admin = deployment.admin
    add_user(deployment, "judy")
    dev = create(admin, "groups", "group", name="dev")
    judy = user_id(admin, "judy")
    login(deployment.main, certificate(name(("OU", "dev"), ("UID", "judy"))))
    admin.put(f"/v3/groups/{dev['id']}/users/{judy}", headers=ADMIN, status=204)
    login(deployment.main, certificate(name(("OU", "other"), ("UID", "judy"))))
    admin.head(f"/v3/groups/{dev['id']}/users/{judy}", headers=ADMIN, status=204)


def test_a_steady_login_writes_nothing(mapped):
    deployment = mapped(GROUP_RULES)
    admin = deployment.admin
    add_user(deployment, "kim")
    create(admin, "groups", "group", name="ops")
    cert = certificate(name(("OU", "ops"), ("UID", "kim")))
    login(deployment.main, cert)
    counter = deployment.services().tokens.counter
    before = counter.read()
    login(deployment.main, cert)
    login(deployment.main, cert)
    assert counter.read() == before  # no write moved the change counter


# -- provisioning --------------------------------------------------------------------------------

PROVISIONING_RULES = [{"local": [{"user": {"name": "{0}", "email": "{1}",
                                           "domain": {"name": "corp"}}}],
                       "remote": [{"type": UID}, {"type": "SSL_CLIENT_SAN_EMAIL"},
                                  CORP_CA_ONLY]}]


def test_a_first_login_provisions_a_shadow_user_in_the_rules_domain(mapped):
    deployment = mapped(PROVISIONING_RULES, provision_users="true")
    corp = create_domain(deployment, "corp")
    cert = certificate(name(("UID", "lena")), emails=("lena@corp.test",))
    first = login(deployment.main, cert).json["token"]
    assert first["user"]["name"] == "lena" and first["user"]["domain"]["id"] == corp
    (user,) = deployment.admin.get(f"/v3/users?name=lena&domain_id={corp}",
                                   headers=ADMIN).json["users"]
    assert user["id"] == first["user"]["id"] and user["enabled"] is True
    assert user["email"] == "lena@corp.test"
    again = login(deployment.main, certificate(name(("UID", "lena")), emails=(
        "lena@corp.test",))).json["token"]
    assert again["user"]["id"] == user["id"]
    # A shadow user has no password.
    post_token(deployment.main, {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "lena", "domain": {"id": corp}, "password": ""}}}}}, status=400)
    post_token(deployment.main, {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "lena", "domain": {"id": corp}, "password": "x"}}}}}, status=401)


def test_without_provisioning_an_unknown_user_is_refused_and_nothing_is_created(mapped, caplog):
    deployment = mapped(PROVISIONING_RULES)
    create_domain(deployment, "corp")
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = login(deployment.main, certificate(name(("UID", "mona")),
                                                 emails=("mona@corp.test",)), status=401)
    assert_keystone_error(refused, 401)
    assert "[cert_auth] provision_users is off" in refusal_logged(caplog, refused)
    assert deployment.admin.get("/v3/users?name=mona", headers=ADMIN).json["users"] == []


def test_a_user_of_type_local_is_never_provisioned(mapped, caplog):
    rules = [{"local": [{"user": {"name": "{0}", "type": "local"}}], "remote": [{"type": UID}]}]
    deployment = mapped(rules, provision_users="true")
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = login(deployment.main, certificate(name(("UID", "ned"))), status=401)
    assert "type local" in refusal_logged(caplog, refused)


def test_two_first_logins_at_once_make_one_user(mapped):
    """The second login's INSERT meets the first one's, still uncommitted: it waits, then finds
    the committed user (PostgreSQL: the unique index; SQLite: the write lock, and a retry)."""
    deployment = mapped(PROVISIONING_RULES, provision_users="true")
    corp = create_domain(deployment, "corp")
    services = deployment.services()
    cert = certificate(name(("UID", "olga")), emails=("olga@corp.test",))
    answers = []
    first = services.session_factory()
    try:
        racing = mapping_store.provision_user(first, name="olga", domain_id=corp,
                                              email="olga@corp.test")
        second = threading.Thread(target=lambda: answers.append(
            login(deployment.main, cert, status="*")))
        second.start()
        second.join(1.0)
        assert second.is_alive()  # waiting for the first transaction
        first.commit()
    finally:
        first.close()
    second.join(30)
    (response,) = answers
    assert response.status_int == 201, response.body
    assert response.json["token"]["user"]["id"] == racing.id
    assert len(deployment.admin.get(f"/v3/users?name=olga&domain_id={corp}",
                                    headers=ADMIN).json["users"]) == 1


# -- refusals ----------------------------------------------------------------------------------

def test_no_rule_matching_is_a_401_with_the_rules_trace_logged(mapped, caplog):
    deployment = mapped(BY_UID)
    add_user(deployment, "pete", "demo")
    caplog.set_level(logging.INFO, logger="keystone_lite")
    other_ca = name(("O", "Example"), ("CN", "Other CA"))
    refused = login(deployment.main, certificate(name(("UID", "pete")), issuer=other_ca),
                    status=401)
    error = assert_keystone_error(refused, 401)
    assert "Other CA" not in error["message"]  # the client learns nothing of the rules
    line = refusal_logged(caplog, refused)
    assert "no rule gives a user for the certificate of subject 'UID=pete'" in line
    assert "rule 0: no match: SSL_CLIENT_ISSUER_DN_CN 'Other CA' is none of ['Corp CA']" in line


def test_a_certificate_with_two_uids_is_refused_by_a_rule_that_needs_one(mapped, caplog):
    deployment = mapped(BY_UID)
    add_user(deployment, "alice", "demo")
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = login(deployment.main, certificate(name(("UID", "alice"), ("UID", "mallory"))),
                    status=401)
    assert "needs one value for {0}, which has 2 ['alice', 'mallory']" in refusal_logged(
        caplog, refused)


def test_without_the_exported_certificate_the_login_is_refused_with_the_fix_logged(mapped,
                                                                                   caplog):
    deployment = mapped(BY_UID)
    add_user(deployment, "quinn", "demo")
    environ = cert_builders.environ(certificate(name(("UID", "quinn"))))
    del environ["SSL_CLIENT_CERT"]  # Apache without SSLOptions +ExportCertData
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = deployment.main.post_json("/v3/auth/tokens", external_auth(), status=401,
                                        extra_environ=environ)
    assert "+ExportCertData" in refusal_logged(caplog, refused)
    assert any(record.levelno == logging.WARNING for record in caplog.records
               if "+ExportCertData" in record.getMessage())


def test_a_configured_mapping_id_that_does_not_exist_refuses_until_it_is_created(
        make_deployment, caplog):
    deployment = make_deployment({"cert_auth": {"mapping_id": "certs"}})
    add_user(deployment, "rita", "demo")
    cert = certificate(name(("UID", "rita")))
    caplog.set_level(logging.INFO, logger="keystone_lite")
    refused = login(deployment.main, cert, status=401)
    assert "the mapping 'certs' named by [cert_auth] mapping_id does not exist" in \
        refusal_logged(caplog, refused)
    deployment.admin.put_json("/v3/OS-FEDERATION/mappings/certs", {"mapping": {
        "rules": BY_UID}}, headers=ADMIN, status=201)
    assert login(deployment.main, cert).json["token"]["user"]["name"] == "rita"
    deployment.admin.delete("/v3/OS-FEDERATION/mappings/certs", headers=ADMIN, status=204)
    login(deployment.main, cert, status=401)


def test_a_password_over_a_mapped_certificate_of_someone_else_is_refused(mapped):
    deployment = mapped(BY_UID)
    add_user(deployment, "sam", "demo")
    add_user(deployment, "tess", "demo", password="tess-secret")
    deployment.main.post_json("/v3/auth/tokens", password_auth("tess", "tess-secret"),
                              extra_environ=cert_builders.environ(
                                  certificate(name(("UID", "sam")))), status=401)


# -- configuration -------------------------------------------------------------------------------

def test_a_malformed_mapping_file_stops_start_up_with_one_line_naming_it(make_deployment,
                                                                         tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([{"local": [{"user": {"name": "{3}"}}],
                                 "remote": [{"type": UID}]}]), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        make_deployment({"cert_auth": {"mapping_file": str(path)}})
    message = str(raised.value)
    assert "[cert_auth] mapping_file:" in message and str(path) in message
    assert "rules[0].local[0].user.name: {3} refers to no remote" in message
    assert "\n" not in message


@pytest.mark.parametrize("options, error", [
    ({"mapping_file": "a.json", "mapping_id": "m"}, "set one of them, not both"),
    ({"provision_users": "true"}, "[cert_auth] provision_users: needs mapping_file or"),
    ({"mapping_file": "missing.json"}, "missing.json: cannot read"),
])
def test_mapping_options_that_cannot_work_stop_start_up(make_deployment, options, error):
    with pytest.raises(ConfigError) as raised:
        make_deployment({"cert_auth": options})
    assert error in str(raised.value)


def test_the_mapping_file_is_read_once_at_start_up(mapped):
    deployment = mapped(BY_UID)
    add_user(deployment, "uma", "demo")
    os.remove(deployment.services().settings.mapping_file)
    assert login(deployment.main, certificate(name(("UID", "uma")))).json["token"]["user"][
        "name"] == "uma"
