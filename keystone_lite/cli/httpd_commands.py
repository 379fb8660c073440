"""``keystone-lite-manage check-httpd CONF``: report the known traps of an Apache httpd config.

Kept apart from manage.py like the other command groups; ``manage.build_parser`` calls
``add_commands``. The logic lives in keystone_lite.httpd_config (reading) and
keystone_lite.httpd_check (rules); this module only parses arguments and prints.
"""
from __future__ import annotations

import os

from keystone_lite import httpd_check, httpd_config


def add_commands(subparsers) -> None:
    """Add ``check-httpd`` to keystone-lite-manage's sub-commands."""
    check = subparsers.add_parser(
        "check-httpd", help="check an Apache httpd configuration for the traps of a "
        "client-certificate deployment (exit status 1 on any error)")
    check.add_argument("conf", metavar="CONF", help="the httpd configuration file to read "
                       "(its Include/IncludeOptional files are followed)")
    check.add_argument("--define", action="append", default=[], metavar="NAME[=VALUE]",
                       help="like httpd -D NAME, or Define NAME VALUE before CONF (repeatable)")
    check.add_argument("--client-cert", action="append", default=[], metavar="PEM",
                       help="a client certificate that must carry the SSLUserName attribute "
                       "(repeatable)")
    check.add_argument("--module", choices=("auto", *httpd_check.MODULES), default="auto",
                       help="TLS module whose rules apply (default: per VirtualHost, from its "
                       "SSLEngine or NSSEngine line)")
    check.add_argument("--server-root", metavar="DIR", help="ServerRoot for relative includes "
                       "when CONF sets none (default: the directory of CONF)")
    check.set_defaults(run=check_httpd, needs_settings=False)


def check_httpd(settings, args) -> None:
    """Print one line per finding and a summary; raise CommandError if any is an error."""
    defines = dict(_define(text) for text in args.define)
    certificates = []
    for path in args.client_cert:
        try:
            certificates.append((path, httpd_check.load_client_certificate(path)))
        except ValueError as exc:
            _fail(str(exc))
    config = httpd_config.read_config(args.conf, defines, dict(os.environ), args.server_root)
    findings = httpd_check.check(config, args.module, tuple(certificates))
    for finding in findings:
        print(finding)
    print(f"check-httpd: {httpd_check.summary(findings, config)}")
    errors = sum(finding.severity == "error" for finding in findings)
    if errors:
        _fail(f"{errors} error(s) in {args.conf}")


def _define(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name, value


def _fail(message: str) -> None:
    # Imported here: manage imports this module to build its parser.
    from keystone_lite.cli.manage import CommandError
    raise CommandError(message)
