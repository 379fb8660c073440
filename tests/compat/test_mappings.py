"""``openstack mapping ...`` (python-openstackclient, keystoneclient's federation manager) manages
the rules of certificate logins in keystone_lite as in Keystone (/v3/OS-FEDERATION/mappings)."""
from __future__ import annotations

import json

import pytest

from compat_clients import require
from test_openstackclient import admin_env, run, run_json, unique

require("openstackclient")
pytestmark = pytest.mark.compat

RULES = [{"local": [{"user": {"name": "{0}"}}],
          "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_UID"},
                     {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Corp CA"]}]}]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    """An empty HOME: no clouds.yaml or cache of the machine's user leaks in."""
    return str(tmp_path_factory.mktemp("openstack-home"))


def test_mapping_create_show_list_set_delete(http_keystone, home, tmp_path):
    env, mapping = admin_env(http_keystone), unique("certs")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")

    created = run_json(home, env, "mapping", "create", "--rules", str(rules), mapping)
    assert created["id"] == mapping and created["rules"] == RULES
    assert run_json(home, env, "mapping", "show", mapping)["rules"] == RULES
    assert mapping in {item["ID"] for item in run_json(home, env, "mapping", "list")}

    changed = [{**RULES[0], "local": [{"user": {"name": "{0}", "type": "local"}}]}]
    rules.write_text(json.dumps(changed), encoding="utf-8")
    run(home, env, "mapping", "set", "--rules", str(rules), mapping)
    assert run_json(home, env, "mapping", "show", mapping)["rules"] == changed

    run(home, env, "mapping", "delete", mapping)
    assert mapping not in {item["ID"] for item in run_json(home, env, "mapping", "list")}
