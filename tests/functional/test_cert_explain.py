"""``keystone-lite-manage cert explain``: what the mapping rules make of a certificate file, rule
by rule, and whether its user exists or would be provisioned; exit status 1 when the
certificate would not log in."""
from __future__ import annotations

import json

from cryptography.hazmat.primitives import serialization

from builders import add_user, create_domain
from cert_builders import certificate, name, pem
from keystone_lite.cli import manage
from test_identity_parity import ADMIN

UID = "SSL_CLIENT_SUBJECT_DN_UID"
RULES = [
    {"local": [{"user": {"name": "{0}"}}],
     "remote": [{"type": UID}, {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Other CA"]}]},
    {"local": [{"user": {"name": "{0}", "domain": {"name": "corp"}}},
               {"groups": "{1}", "domain": {"name": "Default"}}],
     "remote": [{"type": UID}, {"type": "SSL_CLIENT_SUBJECT_DN_OU"},
                {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Corp CA"]}]},
]


def explain(deployment, capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    status = manage.main(["--config-file", deployment.config, "cert", "explain", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path, filename: str, data) -> str:
    path = tmp_path / filename
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_explain_shows_the_assertion_each_rule_and_the_existing_user(make_deployment, tmp_path,
                                                                     capsys):
    rules = write(tmp_path, "rules.json", RULES)
    deployment = make_deployment({"cert_auth": {"mapping_file": rules}})
    corp = create_domain(deployment, "corp")
    deployment.admin.post_json("/v3/users", {"user": {"name": "alice", "domain_id": corp}},
                               headers=ADMIN, status=201)
    ops = deployment.admin.post_json("/v3/groups", {"group": {"name": "ops"}}, headers=ADMIN,
                                     status=201).json["group"]
    cert = write(tmp_path, "alice.pem", pem(certificate(name(
        ("O", "Example"), ("OU", "ops"), ("OU", "ghosts"), ("UID", "alice")))))

    status, out, _err = explain(deployment, capsys, "--cert", cert)
    assert status == 0, out
    assert "  subject UID=alice,OU=ghosts,OU=ops,O=Example" in out
    assert "  SSL_CLIENT_SUBJECT_DN_OU = ops;ghosts" in out
    assert f"rules: [cert_auth] mapping_file {rules} (2 rules)" in out
    assert "  rule 0: no match: SSL_CLIENT_ISSUER_DN_CN 'Corp CA' is none of ['Other CA']" in out
    assert "  rule 1: matches: {0} = 'alice' from SSL_CLIENT_SUBJECT_DN_UID; {1} = ['ops', " \
           "'ghosts'] from SSL_CLIENT_SUBJECT_DN_OU" in out
    assert "result: rule 1 gives\n  user: name 'alice', domain name 'corp'\n" in out
    assert "  groups: 'ops' of domain name 'Default'; 'ghosts' of domain name 'Default'" in out
    assert "store: user 'alice' (id " in out and "of domain 'corp' exists" in out
    assert f"  group ids: {ops['id']}\n" in out
    assert "group 'ghosts' of domain name 'Default', which does not exist: skipped" in out


def test_explain_says_whom_a_first_login_would_provision(make_deployment, tmp_path, capsys):
    rules = write(tmp_path, "rules.json", RULES)
    deployment = make_deployment({"cert_auth": {"mapping_file": rules,
                                                "provision_users": "true"}})
    create_domain(deployment, "corp")
    cert = write(tmp_path, "new.pem", pem(certificate(name(("OU", "ops"), ("UID", "newbie")))))
    status, out, _err = explain(deployment, capsys, "--cert", cert)
    assert status == 0, out
    assert "store: no such user yet; the first login provisions one (name 'newbie') in " \
           "domain 'corp'" in out


def test_explain_of_a_certificate_that_would_be_refused_exits_1_saying_why(
        make_deployment, tmp_path, capsys):
    rules = write(tmp_path, "rules.json", RULES)
    deployment = make_deployment({"cert_auth": {"mapping_file": rules}})
    create_domain(deployment, "corp")
    unknown = write(tmp_path, "unknown.pem", pem(certificate(name(("OU", "ops"),
                                                                  ("UID", "nobody")))))
    status, out, _err = explain(deployment, capsys, "--cert", unknown)
    assert status == 1
    assert "store: the login would be refused: no user with name 'nobody' in domain 'corp', " \
           "and [cert_auth] provision_users is off" in out

    no_ou = write(tmp_path, "no-ou.der", certificate(name(("UID", "alice"))).public_bytes(
        serialization.Encoding.DER))
    status, out, _err = explain(deployment, capsys, "--cert", no_ou)
    assert status == 1
    assert "  rule 1: no match: SSL_CLIENT_SUBJECT_DN_OU is not in the certificate" in out
    assert out.endswith("result: no login (no rule matched)\n")


def test_explain_tries_another_rules_file_and_reads_a_stored_mapping(make_deployment, tmp_path,
                                                                    capsys):
    deployment = make_deployment({"cert_auth": {"mapping_id": "certs"}})
    add_user(deployment, "bob", "demo")
    # A curl --cert file: the certificate and its key in one PEM.
    combined = pem(certificate(name(("UID", "bob")))) + "-----BEGIN PRIVATE KEY-----\n" \
        "MC4CAQAwBQYDK2VwBCIEIK0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" \
        "-----END PRIVATE KEY-----\n"
    cert = write(tmp_path, "bob.pem", combined)
    status, out, _err = explain(deployment, capsys, "--cert", cert)
    assert status == 1
    assert "rules: stored mapping 'certs' ([cert_auth] mapping_id): the mapping 'certs' " \
           "named by [cert_auth] mapping_id does not exist" in out

    deployment.admin.put_json("/v3/OS-FEDERATION/mappings/certs", {"mapping": {"rules": [
        {"local": [{"user": {"name": "{0}"}}], "remote": [{"type": UID}]}]}},
        headers=ADMIN, status=201)
    status, out, _err = explain(deployment, capsys, "--cert", cert)
    assert status == 0 and "store: user 'bob' (id " in out

    other = write(tmp_path, "other.json", {"rules": [{"local": [{"user": {"name": "x"}}],
                                                      "remote": [{"type": "NOWHERE"}]}]})
    status, out, _err = explain(deployment, capsys, "--cert", cert, "--mapping-file", other)
    assert status == 1 and f"rules: --mapping-file {other} (1 rule)" in out


def test_explain_errors_are_one_line_with_status_1(deployment, tmp_path, capsys):
    cert = write(tmp_path, "c.pem", pem(certificate(name(("UID", "x")))))
    status, out, err = explain(deployment, capsys, "--cert", cert)
    assert status == 1 and out.count("\n") == 4  # the certificate, then the error
    assert err == ("keystone-lite-manage cert explain: no mapping rules: pass --mapping-file, "
                   "or set [cert_auth] mapping_file or mapping_id (without them the "
                   "certificate's SSL_CLIENT_S_DN_UID is the user's name)\n")
    status, _out, err = explain(deployment, capsys, "--cert", write(tmp_path, "x.pem", "junk"))
    assert status == 1 and err.endswith("x.pem: not a PEM or DER X.509 certificate\n")
    broken = write(tmp_path, "broken.json", "[{")
    status, _out, err = explain(deployment, capsys, "--cert", cert, "--mapping-file", broken)
    assert status == 1 and "broken.json: not JSON: " in err and err.count("\n") == 1
