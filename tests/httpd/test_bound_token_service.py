"""``bound_token`` in a sample service behind real Apache (mod_ssl + mod_wsgi), after the real
keystonemiddleware ``auth_token``, with keystone_lite (``[cert_auth] bind_tokens = true``) served
by the same httpd through the shipped config; real curl and the dev PKI.

The service is configured as operators configure OpenStack services: a paste pipeline
``authtoken bound_token sample`` and a ``[keystone_authtoken]`` section in its own config file
(auth_token's ``oslo_config_project``/``oslo_config_file``). Its virtual host verifies client
certificates optionally and exports them (``SSLOptions +ExportCertData``), so a request without
one reaches the service.

keystonemiddleware runs in the Python running the tests, which is also the one mod_wsgi embeds
(``WSGIPythonHome``): run this module with the compat environment's Python (``tox -e compat``
runs it; by hand: ``.tox/compat/bin/python -m pytest tests/httpd/test_bound_token_service.py``).
The httpd fixtures pip-install mod_wsgi into that environment on first use, as for any Python
that runs the httpd tests. Elsewhere the module is skipped, or fails under
``KEYSTONE_LITE_REQUIRE_COMPAT=1``.
"""
from __future__ import annotations

import importlib
import os
import shutil
import textwrap

import pytest

from keystone_lite import pki

from builders import LOOPBACK as HOST, external_auth, free_port, password_auth
from conftest import cli, running_site

pytestmark = [pytest.mark.httpd, pytest.mark.compat]

try:
    importlib.import_module("keystonemiddleware.auth_token")
except ImportError as exc:
    if os.environ.get("KEYSTONE_LITE_REQUIRE_COMPAT") == "1":
        raise
    pytest.skip(f"keystonemiddleware is not importable ({exc}): run with the compat "
                "environment's Python (tox -e compat)", allow_module_level=True)

SERVICE_USER, SERVICE_PASSWORD = "nova", "nova-secret"

SAMPLE_SERVICE = '''\
"""The protected service: who auth_token says the caller is."""
import json


def app_factory(global_conf, **local_conf):
    def application(environ, start_response):
        body = json.dumps({"user": environ.get("HTTP_X_USER_NAME"),
                           "status": environ.get("HTTP_X_IDENTITY_STATUS")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return application
'''


def write_service(directory: str, site, service_port: int) -> None:
    """The sample service's code, paste pipeline, config file and WSGI script."""
    os.makedirs(directory)
    files = {
        "sample_service.py": SAMPLE_SERVICE,
        "service.wsgi": f"from paste.deploy import loadapp\n"
                        f"application = loadapp('config:{directory}/service-paste.ini')\n",
        "service-paste.ini": f"""\
            [pipeline:main]
            pipeline = authtoken bound_token sample

            [filter:authtoken]
            paste.filter_factory = keystonemiddleware.auth_token:filter_factory
            oslo_config_project = sample
            oslo_config_file = {directory}/sample.conf

            # use = egg:keystone_lite#bound_token where keystone_lite is installed with its
            # entry points; the factory itself here, so that the code under test is used.
            [filter:bound_token]
            paste.filter_factory = keystone_lite.middleware.bound_token:filter_factory

            [app:sample]
            paste.app_factory = sample_service:app_factory
            """,
        # The service user has a password and, as every client of the shipped vhost, a
        # certificate (its token is a password one: unbound).
        "sample.conf": f"""\
            [keystone_authtoken]
            www_authenticate_uri = {site.base}/main/v3
            auth_url = {site.base}/admin/v3
            auth_type = password
            username = {SERVICE_USER}
            password = {SERVICE_PASSWORD}
            project_name = service
            user_domain_id = default
            project_domain_id = default
            cafile = {directory}/ca.crt
            certfile = {directory}/{SERVICE_USER}.crt
            keyfile = {directory}/{SERVICE_USER}.key
            http_connect_timeout = 10
            """,
    }
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(textwrap.dedent(text))
    # The CA certificate is public; the PKI directory (with its key) is the operator's alone.
    shutil.copyfile(site.ca, os.path.join(directory, "ca.crt"))
    issued = pki.issue_client_certificate(site.pki_dir, SERVICE_USER)
    shutil.copyfile(issued.certificate, os.path.join(directory, f"{SERVICE_USER}.crt"))
    key = os.path.join(directory, f"{SERVICE_USER}.key")
    shutil.copyfile(issued.key, key)
    os.chmod(key, 0o600)  # the service's alone
    if site.tools.run_as is not None:
        os.chown(key, site.tools.run_as.pw_uid, site.tools.run_as.pw_gid)


def service_vhost(directory: str, site, service_port: int) -> str:
    return f"""
# -- the sample service, a separate virtual host: certificates optional, exported ----------------
Listen {HOST}:{service_port}
<VirtualHost *:{service_port}>
    SSLEngine on
    SSLCertificateFile {site.pki_dir}/server.crt
    SSLCertificateKeyFile {site.pki_dir}/server.key
    SSLVerifyClient optional
    SSLVerifyDepth 2
    SSLCACertificateFile {site.ca}
    SSLOptions +StdEnvVars +ExportCertData
    WSGIDaemonProcess sample-service display-name=%{{GROUP}} processes=1 threads=4 \\
        python-path={directory}
    WSGIScriptAlias /service {directory}/service.wsgi \\
        process-group=sample-service application-group=%{{GLOBAL}}
    <Directory {directory}>
        Require all granted
    </Directory>
</VirtualHost>
"""


@pytest.fixture(scope="module")
def bound_site(apache_tools, database_backend):
    """The httpd site with bind_tokens on, the service user nova (password, role service on
    project service) and the sample service on a third port; yields (site, service URL)."""
    service_port = free_port()
    state = {}

    def prepare(site, config):
        cli(config, "user", "create", SERVICE_USER, "--password", SERVICE_PASSWORD,
            "--project", "service", "--role", "service")
        state["directory"] = os.path.join(site.root, "sample-service")
        write_service(state["directory"], site, service_port)

    with running_site(apache_tools, database_backend.create(), cert_auth="bind_tokens = true\n",
                      prepare=prepare,
                      extra_conf=lambda site: service_vhost(state["directory"], site,
                                                            service_port)) as site:
        yield site, f"https://{HOST}:{service_port}/service/"


def test_bound_token_reaches_the_service_only_with_its_certificate(bound_site):
    site, service = bound_site
    login = site.post_json("/main/v3/auth/tokens", external_auth("demo"), *site.cert("alice"))
    assert login.status == 201, site.explain(login)
    assert "oauth2_credential" in login.json()["token"]
    token = ["-H", f"X-Auth-Token: {login.headers['x-subject-token']}"]

    served = site.curl(service, *site.cert("alice"), *token)
    assert served.status == 200, site.explain(served)
    assert served.json() == {"user": "alice", "status": "Confirmed"}

    # Another user's certificate (the admin's, of the same CA), then no certificate at all.
    for presenter in (site.cert("admin"), []):
        refused = site.curl(service, *presenter, *token)
        assert refused.status == 401, site.explain(refused)
        assert refused.json()["error"]["code"] == 401, refused
        # auth_token adds it to every 401 from behind it, bound_token's included.
        assert refused.headers["www-authenticate"] == f'Keystone uri="{site.base}/main/v3"'


def test_unbound_token_reaches_the_service_without_a_certificate(bound_site):
    site, service = bound_site
    login = site.post_json(f"{site.optional_base}/admin/v3/auth/tokens",
                           password_auth(SERVICE_USER, SERVICE_PASSWORD, "service"))
    assert login.status == 201, site.explain(login)
    assert "oauth2_credential" not in login.json()["token"]

    served = site.curl(service, "-H", f"X-Auth-Token: {login.headers['x-subject-token']}")

    assert served.status == 200, site.explain(served)
    assert served.json()["user"] == SERVICE_USER


def test_keystone_lite_behind_apache_refuses_a_bound_token_without_its_certificate(
        bound_site):
    site, _ = bound_site
    token = site.token_for("alice", "demo")
    headers = ["-H", f"X-Auth-Token: {token}", "-H", f"X-Subject-Token: {token}"]

    own = site.curl(f"{site.optional_base}/admin/v3/auth/tokens", *site.cert("alice"), *headers)
    copied = site.curl(f"{site.optional_base}/admin/v3/auth/tokens", *headers)

    assert own.status == 200, site.explain(own)
    assert copied.status == 401, site.explain(copied)
    assert copied.json()["error"]["code"] == 401
