"""A sample OpenStack service behind keystonemiddleware's ``oauth2_mtls_token`` filter, served by
eventlet's WSGI server with TLS on 127.0.0.1, client certificate required.

The filter reads the client certificate of the connection from ``wsgi.input.get_socket()``,
which only eventlet's server offers (the way Keystone's own documentation runs it). Started as a
subprocess by tests/compat/test_oauth2_mtls.py, so that eventlet stays out of the test process:

    python mtls_service.py '{"certificate", "key", "ca", "authtoken": {...}}'

prints the port it listens on as its first line, then serves until it is terminated. The
service answers 200 with the identity the filter confirmed (``X-User-Id``, ``X-Project-Id``,
``X-Roles``) as JSON.
"""
from __future__ import annotations

import json
import ssl
import sys
import warnings

with warnings.catch_warnings():  # eventlet warns that it is deprecated, on import
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet import wsgi
    from eventlet.green import ssl as green_ssl

from keystonemiddleware import oauth2_mtls_token  # noqa: E402
from oslo_config import cfg  # noqa: E402

HOST = "127.0.0.1"
SEEN = {"X-User-Id": "HTTP_X_USER_ID", "X-Project-Id": "HTTP_X_PROJECT_ID",
        "X-Roles": "HTTP_X_ROLES"}


def service(environ, start_response):
    body = json.dumps({name: environ.get(key) for name, key in SEEN.items()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def main(argv: list[str]) -> None:
    settings = json.loads(argv[1])
    config = cfg.ConfigOpts()
    # No command line and no config files: the settings below are the whole configuration.
    config(args=[], project="keystone_lite_compat", default_config_files=[],
           default_config_dirs=[], use_env=False)
    app = oauth2_mtls_token.filter_factory(
        {}, oslo_config_config=config, **settings["authtoken"])(service)
    # A context, not eventlet.wrap_ssl(cert_reqs=...): eventlet 0.41 ORs cert_reqs into the
    # options instead of setting verify_mode, and would never ask for a client certificate.
    context = green_ssl.GreenSSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(settings["ca"])
    context.load_cert_chain(settings["certificate"], settings["key"])
    listener = context.wrap_socket(eventlet.listen((HOST, 0)), server_side=True)
    print(listener.getsockname()[1], flush=True)
    wsgi.server(listener, app, log_output=False)


if __name__ == "__main__":
    main(sys.argv)
