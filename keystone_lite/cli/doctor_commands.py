"""``keystone-lite-manage doctor``: check a deployment from its shell (keystone_lite.doctor).

One line per check, ``OK``/``WARN``/``FAIL``/``SKIP``; exit status 1 when any check fails, so
that it can gate a deployment script. ``manage.build_parser`` calls ``add_commands``.
"""
from __future__ import annotations

from keystone_lite import doctor, settings as settings_module


def add_commands(subparsers) -> None:
    check = subparsers.add_parser(
        "doctor", help="check the deployment: configuration, database, keys, file modes, "
        "certificates (exit status 1 on any FAIL)")
    check.add_argument("--server-cert", metavar="PEM", help="server certificate to check for "
                       "expiry (default: the dev PKI's <data_dir>/pki/server.crt, if there)")
    check.add_argument("--ca", metavar="PEM", help="CA certificate to check for expiry "
                       "(default: the dev PKI's <data_dir>/pki/ca.crt, if there)")
    # Settings are loaded here: a broken configuration is a FAIL line, like the others.
    check.set_defaults(run=run_doctor, needs_settings=False)


def run_doctor(_settings, args) -> None:
    from keystone_lite.cli.manage import CommandError, config_path  # manage imports this module
    path = config_path(args.config_file)
    try:
        settings = settings_module.load(path)
    except settings_module.ConfigError as exc:
        print(doctor.Finding("FAIL", "config", str(exc)))
        raise CommandError("the configuration cannot be loaded") from None
    findings = doctor.examine(settings, args.server_cert, args.ca)
    for finding in findings:
        print(finding)
    failed = sum(finding.status == "FAIL" for finding in findings)
    if failed:
        raise CommandError(f"{failed} check(s) failed")
