"""keystone-lite: run keystone_lite on the embedded HTTPS server.

``serve`` runs an installation set up with keystone-lite-manage; ``quickstart`` sets one up (or
reuses what exists), prints a curl command that gets a token, and serves it. Both serve ``/main``
and ``/admin`` on one port with client certificates verified in the TLS handshake, and with
``[cert_auth] crl_file`` checked against its CRLs there too (a new CRL file is picked up by new
connections without a restart).
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import shlex
import shutil
import socket
import ssl
import sys

from keystone_lite import errors, ops_listener, pki, server, settings as settings_module
from keystone_lite.certificates import crl
from keystone_lite.embedded_http import Limits
from keystone_lite.cli import manage
from keystone_lite.db import session as db_session
from keystone_lite.identity import store
from keystone_lite.private_files import make_private_dir
from keystone_lite.token import key_repository

DEMO_USER = "demo"
DEMO_PROJECT = "demo"


def serve(args) -> None:
    _check_ports_free(args)
    settings = _settings(args.config_file)
    directory = pki.default_directory(settings.data_dir)
    files = server.TLSFiles(args.cert or os.path.join(directory, "server.crt"),
                            args.key or os.path.join(directory, "server.key"),
                            args.ca or settings.ca_file or os.path.join(directory, "ca.crt"))
    for path in (files.certificate, files.key, files.ca):
        if not os.path.exists(path):
            raise manage.CommandError(f"{path}: missing; run keystone-lite-manage pki setup or "
                                      "pass --cert, --key and --ca")
    limits = {name: getattr(args, name) for name in _LIMIT_OPTIONS}

    def ready():
        print(f"serving https://{args.host}:{args.port}/main and /admin "
              f"(client certificates: {args.verify_client})"
              + _health_line(args) + "\n" + _tool_lines(settings) + "\nCtrl-C stops.",
              flush=True)

    _run(settings, files, args.host, args.port, args.verify_client == "require", limits,
         ready, _health_address(args))


def quickstart(args) -> None:
    """Set up (or reuse) a complete development installation and serve it on 127.0.0.1."""
    args.host = "127.0.0.1"
    _check_ports_free(args)  # before setting anything up
    settings = _settings(args.config_file)
    if not settings.enforce_scope:
        # The shipped etc/keystone-lite.conf turns it on; a config of one's own may not.
        print(f"note: {settings.config_file} leaves [oslo_policy] enforce_scope off: the admin "
              "role on any project administers the whole cloud (docs/deployment.md)")
    make_private_dir(settings.data_dir)
    base = f"https://127.0.0.1:{args.port}"
    _manage(settings, "db_sync")
    _manage(settings, "fernet_setup")
    _manage(settings, "credential_setup")
    _manage(settings, "bootstrap", "--bootstrap-public-url", f"{base}/main/v3",
            "--bootstrap-internal-url", f"{base}/main/v3",
            "--bootstrap-admin-url", f"{base}/admin/v3")
    if _user_exists(settings, DEMO_USER):
        print(f"user {DEMO_USER!r} exists; kept")
    else:
        _manage(settings, "user", "create", DEMO_USER, "--project", DEMO_PROJECT,
                "--role", "member")

    directory = pki.default_directory(settings.data_dir)
    ca = pki.ensure_ca(directory)
    tls = pki.ensure_server_certificate(directory)
    demo = pki.issue_client_certificate(directory, DEMO_USER, keep_existing=True)
    admin = pki.issue_client_certificate(directory, "admin", keep_existing=True)
    print(f"PKI in {directory} (CA {'created' if ca.created else 'kept'}); admin's "
          f"certificate: {admin.combined}")

    body = {"auth": {"identity": {"methods": ["external"], "external": {}},
                     "scope": {"project": {"name": DEMO_PROJECT,
                                           "domain": {"id": settings.default_domain_id}}}}}
    command = shlex.join(["curl", "-si", "--cacert", ca.certificate, "--cert", demo.certificate,
                          "--key", demo.key, "-H", "Content-Type: application/json",
                          "-d", json.dumps(body, separators=(",", ":")),
                          f"{base}/main/v3/auth/tokens"])

    optional = args.verify_client == "optional"

    def ready():
        print(f"\nkeystone_lite is serving {base}/main and {base}/admin"
              + (" (clients without a certificate too: password and token logins)"
                 if optional else "")
              + _health_line(args) + f". Get a token for {DEMO_USER!r} (X-Subject-Token) "
              f"with:\n\n{command}\n\n" + _tool_lines(settings) + "\n\nCtrl-C stops.",
              flush=True)

    _run(settings, server.TLSFiles(tls.certificate, tls.key, ca.certificate), "127.0.0.1",
         args.port, not optional, {}, ready, _health_address(args))


def _settings(config_file):
    """Settings of the file keystone-lite-manage would use; the paste apps then find the same."""
    path = os.path.abspath(manage.config_path(config_file))
    os.environ[settings_module.CONFIG_ENV_VAR] = path
    return settings_module.load(path)


def _manage(settings, *argv) -> None:
    """Run a keystone-lite-manage command in-process (same code, same messages)."""
    args = manage.build_parser().parse_args(list(argv))
    args.run(settings, args)


def _user_exists(settings, name) -> bool:
    engine = db_session.make_engine(settings.database_connection)
    try:
        with db_session.transaction(db_session.make_session_factory(engine)) as session:
            return store.find_user(session, name=name,
                                   domain_id=settings.default_domain_id) is not None
    finally:
        engine.dispose()


def _run(settings, files, host, port, require_client_certificate, limits, on_ready,
         health=None) -> None:
    """Serve until stopped; ``health`` (host, port): the plain-HTTP operations listener too."""
    # Before the apps: cert_auth then shares this RevocationList, whose CRL signatures are
    # checked against the CA the handshake trusts when [cert_auth] ca_file is unset.
    revocations = crl.from_settings(settings, files.ca)
    apps = server.load_apps()
    limits = Limits(limit_request_body=settings.max_request_body_size, **limits)
    try:
        httpd = server.make_server(apps, files, settings.user_attribute, host, port,
                                   require_client_certificate, limits=limits,
                                   revocations=revocations)
    except ssl.SSLError as exc:
        raise manage.CommandError(f"cannot use certificate {files.certificate}, key {files.key} "
                                  f"and CA {files.ca}: {exc}") from None
    _bind(httpd, "--port")
    if health is None:
        server.serve(httpd, on_ready)
        return
    ops = ops_listener.make_ops_server({**apps, "metrics": server.load_app("metrics")}, *health,
                                       limits=limits)
    _bind(ops, "--health-port")
    with ops_listener.running(ops):
        logging.getLogger(__name__).info("health listener on http://%s:%s/healthcheck "
                                         "(and /metrics)", *ops.bind_addr[:2])
        server.serve(httpd, on_ready)


# -- ports ---------------------------------------------------------------------------------------

def _busy(host: str, port: int, option: str) -> manage.CommandError:
    return manage.CommandError(f"{host}:{port} is already in use (another keystone-lite?); "
                               f"choose a free port with {option} N")


def _bind(listener, option: str) -> None:
    try:
        listener.prepare()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _busy(*listener.bind_addr[:2], option) from None
        raise


def _check_ports_free(args) -> None:
    """A busy port is reported before anything is set up or loaded (binding later could race,
    and _bind reports that too)."""
    wanted = [(args.host, args.port, "--port")]
    if args.health_port is not None:
        wanted.append((args.health_host, args.health_port, "--health-port"))
    for host, port, option in wanted:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise _busy(host, port, option) from None
                raise manage.CommandError(f"cannot listen on {host}:{port}: {exc.strerror}"
                                          ) from None


def _health_address(args):
    return None if args.health_port is None else (args.health_host, args.health_port)


def _health_line(args) -> str:
    if args.health_port is None:
        return ""
    base = f"http://{args.health_host}:{args.health_port}"
    return f"; health checks (no certificate): {base}/healthcheck, metrics: {base}/metrics"


# -- what to do next -----------------------------------------------------------------------------

def tool_directory() -> str:
    """Where keystone-lite-manage is: beside this Python (the virtualenv's bin/)."""
    return os.path.dirname(os.path.abspath(sys.executable))


def _tool_lines(settings) -> str:
    """The path of keystone-lite-manage (not on PATH unless the venv is activated) and the
    commands that come next, with the --config-file it needs to find this installation."""
    directory = tool_directory()
    tool = os.path.join(directory, "keystone-lite-manage")
    on_path = shutil.which("keystone-lite-manage") == tool
    manage_command = "keystone-lite-manage" if on_path else shlex.quote(tool)
    if settings.config_file != os.path.normpath(os.path.abspath(manage.CHECKOUT_CONFIG)):
        manage_command += " --config-file " + shlex.quote(settings.config_file)
    where = "" if on_path else f"; keystone-lite-manage is in {directory}, not on PATH"
    steps = [(f"user create bob --project {DEMO_PROJECT} --role member", "a user, member of "
              f"{DEMO_PROJECT}"),
             ("pki client bob", "and their certificate"),
             ("user list", "also: project list, role assignment list, --help"),
             ("doctor", "check the installation")]
    lines = [f"Next steps (docs/guide.md){where}:"]
    lines += [f"  {manage_command} {step}   # {comment}" for step, comment in steps]
    return "\n".join(lines)


# Options of `serve` for the fields of Limits, named after Apache httpd's directives.
_LIMIT_OPTIONS = {
    "limit_request_line": "longest request line, bytes (LimitRequestLine); longer gets 414",
    "limit_request_field_size": "longest request header field, bytes (LimitRequestFieldSize); "
                                "longer gets 431",
    "limit_request_fields": "most request header fields (LimitRequestFields); more get 400",
    "handshake_timeout": "seconds for the TLS handshake (RequestReadTimeout handshake=)",
    "header_timeout": "seconds to wait for a request and then for its head (RequestReadTimeout "
                      "header=); a late head gets 408",
    "body_timeout": "seconds for a request body (RequestReadTimeout body=); then 408",
    "keepalive_timeout": "seconds an idle connection waits for its next request "
                         "(KeepAliveTimeout)",
    "timeout": "seconds for sending a response (Timeout)",
    "max_connections": "open connections in all; more are refused",
    "max_connections_per_client": "open connections per client address; more are refused",
}


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text}: must be more than 0")
        return value
    parse.__name__ = kind.__name__
    return parse


def _health_options(parser) -> None:
    parser.add_argument("--health-port", type=int, metavar="PORT",
                        help="also serve GET /healthcheck and GET /metrics (Prometheus) over "
                        "plain HTTP on this port, without client certificates, for load "
                        "balancers and monitoring (default: not served)")
    parser.add_argument("--health-host", default=ops_listener.DEFAULT_HOST,
                        help="address of the --health-port listener (default: %(default)s, "
                        "loopback only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keystone-lite", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = ("keystone-lite.conf (default: $KEYSTONE_LITE_CONFIG, etc/ of the checkout, "
                   "/etc/keystone-lite)")

    run = commands.add_parser("serve", help="serve /main and /admin over HTTPS")
    run.add_argument("--config-file", help=config_help)
    run.add_argument("--host", default=server.DEFAULT_HOST,
                     help="address to listen on (default: %(default)s; 0.0.0.0 for every IPv4 "
                     "address)")
    run.add_argument("--port", type=int, default=server.DEFAULT_PORT,
                     help="HTTPS port of /main and /admin (default: %(default)s)")
    run.add_argument("--cert", help="server certificate (default: <data_dir>/pki/server.crt)")
    run.add_argument("--key", help="its private key (default: <data_dir>/pki/server.key)")
    run.add_argument("--ca", help="CA file that client certificates must chain to "
                     "(default: [cert_auth] ca_file, else <data_dir>/pki/ca.crt)")
    run.add_argument("--verify-client", choices=("require", "optional"), default="require",
                     help="like SSLVerifyClient: optional lets clients without a certificate in "
                     "(password and token logins); an invalid certificate is always refused")
    for field in dataclasses.fields(Limits):
        if field.name in _LIMIT_OPTIONS:
            run.add_argument("--" + field.name.replace("_", "-"), default=field.default,
                             type=_positive(type(field.default)), metavar="N",
                             help=f"{_LIMIT_OPTIONS[field.name]} (default: {field.default})")
    _health_options(run)
    run.set_defaults(run=serve)

    quick = commands.add_parser("quickstart", help="set up a development installation (or "
                                "reuse it), print a curl command that gets a token, serve it")
    quick.add_argument("--config-file", help=config_help)
    quick.add_argument("--port", type=int, default=server.DEFAULT_PORT,
                       help="HTTPS port on 127.0.0.1 (default: %(default)s); the catalog's "
                       "endpoints name it, so a new port updates them")
    quick.add_argument("--verify-client", choices=("require", "optional"), default="require",
                       help="require (default): every client presents a certificate; optional "
                       "also lets clients without one in (password and token logins)")
    _health_options(quick)
    quick.set_defaults(run=quickstart)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="keystone_lite %(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except (manage.CommandError, settings_module.ConfigError, key_repository.KeyRepositoryError,
            pki.PKIError) as exc:
        return _fail(args, str(exc))
    except errors.KeystoneError as exc:
        return _fail(args, exc.message)
    except KeyboardInterrupt:
        return _fail(args, "interrupted")
    except OSError as exc:
        return _fail(args, f"{exc.filename or ''}: {exc.strerror}" if exc.filename
                     else str(exc))
    return 0


def _fail(args, message: str) -> int:
    print(f"keystone-lite {args.command}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
