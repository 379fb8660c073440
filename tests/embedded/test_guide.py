"""docs/guide.md, run as written against a real quickstart (tests/guide.py says how the blocks
are marked and run), and the files it has the reader write — the keystonemiddleware settings
and clouds.yaml — used as their programs would use them, with the real curl.

The ``openstack`` blocks run where the command is installed (``tox -e compat``:
tests/compat/test_guide_clients.py, which also loads the settings into keystonemiddleware).
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess

import pytest
import yaml

import guide

pytestmark = [
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary"),
    # The quickstart's own database, whatever the run's backend: its backup copies the file.
    pytest.mark.sqlite_only("the guide runs the quickstart, on SQLite (its backup section "
                            "copies the SQLite file); the PostgreSQL run would repeat it"),
]


def curl(*options: str) -> tuple[int, dict[str, str], str]:
    """(status, headers with lower-case names, body) of one request; fails if curl does."""
    result = subprocess.run(["curl", "-q", "-sS", "--noproxy", "*", "--max-time", "10",
                             "-D", "-", *options], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.splitlines()
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def validate(base_url: str, tls: list[str], caller: str, subject: str) -> int:
    status, _, _ = curl(*tls, "-H", f"X-Auth-Token: {caller}", "-H", f"X-Subject-Token: {subject}",
                        f"{base_url}/admin/v3/auth/tokens")
    return status


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    with guide.run(tmp_path_factory.mktemp("guide")) as done:
        yield done


def test_every_block_of_the_guide_runs_and_prints_what_it_says(finished):
    without_openstack = shutil.which("openstack", path=os.path.dirname(
        guide.KEYSTONE_LITE) + os.pathsep + os.environ.get("PATH", "")) is None
    # Only the openstack blocks may be left out, and only where the command is missing.
    assert all("openstack " in body for body in finished.skipped)
    assert bool(finished.skipped) == without_openstack
    assert {"TOKEN", "ADMIN_TOKEN", "BOB_TOKEN", "BOB_ID", "SERVICE_PASSWORD",
            "BACKUP"} <= finished.variables.keys()


def test_keystone_authtoken_settings_log_the_service_in_and_validate_tokens(finished):
    settings = configparser.ConfigParser(interpolation=None)
    settings.read(os.path.join(finished.workdir, "glance-authtoken.conf"))
    authtoken = settings["keystone_authtoken"]
    assert authtoken["auth_url"] == f"{finished.base_url}/admin/v3"
    assert authtoken["www_authenticate_uri"] == f"{finished.base_url}/main/v3"
    assert authtoken["auth_type"] == "password"
    tls = ["--cacert", authtoken["cafile"], "--cert", authtoken["certfile"],
           "--key", authtoken["keyfile"]]
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": authtoken["username"], "password": authtoken["password"],
        "domain": {"id": authtoken["user_domain_id"]}}}},
        "scope": {"project": {"name": authtoken["project_name"],
                              "domain": {"id": authtoken["project_domain_id"]}}}}}

    # What auth_token does: log in at auth_url, then validate a user's token there.
    status, headers, body = curl(*tls, "-H", "Content-Type: application/json",
                                 "-d", json.dumps(login), f"{authtoken['auth_url']}/auth/tokens")
    assert status == 201, body
    assert {role["name"] for role in json.loads(body)["token"]["roles"]} >= {"service"}
    assert validate(finished.base_url, tls, headers["x-subject-token"],
                    finished.variables["ADMIN_TOKEN"]) == 200
    # The file holds a password: the reader's umask 077 kept it private.
    mode = os.stat(os.path.join(finished.workdir, "glance-authtoken.conf")).st_mode & 0o777
    assert mode == 0o600


def oauth2_login(cloud: dict) -> tuple[list[str], str]:
    """What keystoneauth1's plugin does with a cloud of clouds.yaml: the client credentials
    grant over the certificate. Returns (curl's TLS options, the access token)."""
    assert cloud["auth_type"] == "v3oauth2mtlsclientcredential"
    tls = ["--cacert", cloud["cacert"], "--cert", cloud["cert"], "--key", cloud["key"]]
    status, _, body = curl(*tls, "-d", "grant_type=client_credentials",
                           "-d", f"client_id={cloud['auth']['oauth2_client_id']}",
                           cloud["auth"]["oauth2_endpoint"])
    assert status == 200, body
    return tls, json.loads(body)["access_token"]


def test_clouds_yaml_logs_bob_and_the_admin_in_with_their_certificates(finished):
    with open(os.path.join(finished.workdir, "clouds.yaml"), encoding="utf-8") as handle:
        clouds = yaml.safe_load(handle)["clouds"]
    bob, admin = clouds["quickstart"], clouds["quickstart-admin"]

    tls, token = oauth2_login(bob)
    status, _, body = curl(*tls, "-H", f"X-Auth-Token: {token}", "-H",
                           f"X-Subject-Token: {token}", f"{bob['auth']['auth_url']}/auth/tokens")
    assert status == 200, body
    described = json.loads(body)["token"]
    assert (described["user"]["name"], described["project"]["name"]) == ("bob", "demo")

    # The admin's cloud administers identity at its auth_url (what openstack user list calls).
    tls, token = oauth2_login(admin)
    status, _, body = curl(*tls, "-H", f"X-Auth-Token: {token}",
                           f"{admin['auth']['auth_url']}/users?name=bob")
    assert status == 200, body
    assert [user["name"] for user in json.loads(body)["users"]] == ["bob"]


# -- the runner itself: it can fail -----------------------------------------------------------

def test_an_unmarked_sh_block_is_refused():
    with pytest.raises(AssertionError, match="without a <!-- guide"):
        guide.blocks("<!-- guide: setup -->\n```sh\nKL=x\n```\n\n```sh\nrm -rf data\n```\n")


def test_output_lines_must_appear_in_order_with_dots_for_what_varies():
    guide.assert_shows("created user 'bob' (id 1f2e)\n204\n",
                       ["created user 'bob' (id ...)", "204"], "")
    for expected in (["204", "created user 'bob' (id ...)"], ["created user 'bob'"], ["200"]):
        with pytest.raises(AssertionError):
            guide.assert_shows("created user 'bob' (id 1f2e)\n204\n", expected, "")


def test_output_block_belongs_to_the_command_before_it():
    steps = guide.blocks("<!-- guide: run -->\n```sh\necho 1\n```\n\ntext\n\n"
                         "<!-- guide: output -->\n```text\n1\n```\n")
    assert [(step.kind, step.expected) for step in steps] == [("run", ["1"])]
