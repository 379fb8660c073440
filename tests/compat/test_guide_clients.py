"""docs/guide.md with the real clients: every block, the ``openstack`` ones included, and the
``[keystone_authtoken]`` settings and paste pipeline it gives, loaded into keystonemiddleware's
``auth_token`` as a service loads them, validating tokens against the guide's quickstart.
"""
from __future__ import annotations

import configparser
import json
import os
import re

import pytest
import webtest

import guide
from compat_clients import require, require_executable

auth_token = require("keystonemiddleware.auth_token")
require_executable("openstack")

pytestmark = pytest.mark.compat


def downstream(environ, start_response):
    """The protected service: the identity auth_token gave it, as JSON."""
    seen = {name: environ.get("HTTP_" + name.upper().replace("-", "_"))
            for name in ("X-Identity-Status", "X-User-Name", "X-Project-Name")}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def authtoken_filter_section() -> dict:
    """The ``[filter:authtoken]`` options of the guide's paste pipeline."""
    with open(guide.GUIDE, encoding="utf-8") as handle:
        text = handle.read()
    (pipeline,) = [block for block in re.findall(r"^```ini\n(.*?)^```$", text, re.M | re.S)
                   if "[filter:authtoken]" in block]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(pipeline)
    assert parser["pipeline:main"]["pipeline"].split()[0] == "authtoken"
    return dict(parser["filter:authtoken"])


def test_the_guide_runs_with_openstack_and_its_authtoken_settings_work(tmp_path):
    with guide.run(tmp_path) as done:
        assert done.skipped == []  # the openstack blocks ran
        options = authtoken_filter_section()
        assert options.pop("paste.filter_factory") == ("keystonemiddleware.auth_token:"
                                                       "filter_factory")
        # The guide's file where the snippet names the service's own.
        options["oslo_config_file"] = os.path.join(done.workdir, "glance-authtoken.conf")
        service = webtest.TestApp(auth_token.filter_factory({}, **options)(downstream))

        seen = service.get("/", headers={"X-Auth-Token": done.variables["ADMIN_TOKEN"]}).json
        refused = service.get("/", headers={"X-Auth-Token": "garbage"}, expect_errors=True)

    assert seen == {"X-Identity-Status": "Confirmed", "X-User-Name": "admin",
                    "X-Project-Name": "admin"}
    assert refused.status_int == 401
    assert refused.headers["WWW-Authenticate"] == f'Keystone uri="{done.base_url}/main/v3"'
