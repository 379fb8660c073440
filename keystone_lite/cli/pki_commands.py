"""``keystone-lite-manage pki setup`` and ``pki client``: the development PKI from the shell.

Kept apart from manage.py so the PKI commands can grow without touching the keystone-manage
look-alikes; ``manage.build_parser`` calls ``add_commands``.
"""
from __future__ import annotations

import contextlib
import getpass

from keystone_lite import pki
from keystone_lite.cli import identity_commands

_PROMPT = object()


def add_commands(subparsers) -> None:
    """Add ``pki setup`` and ``pki client`` to keystone-lite-manage's sub-commands."""
    actions = subparsers.add_parser(
        "pki", help="development PKI: CA, server and client certificates").add_subparsers(
        dest="pki_command", required=True, metavar="ACTION")

    setup = actions.add_parser("setup", help="create the CA (an existing one is kept) and the "
                               "server certificate for localhost, 127.0.0.1, ::1 and --name")
    setup.add_argument("--dir", help="PKI directory (default: <data_dir>/pki)")
    setup.add_argument("--name", action="append", default=[], metavar="HOST",
                       help="another DNS name or IP address of the server (repeatable)")
    setup.set_defaults(run=pki_setup)

    client = actions.add_parser("client", help="issue a client certificate whose subject UID "
                                "is USER (replaces that user's previous files)")
    client.add_argument("user", metavar="USER", help="the name of the user (in the default "
                        "domain) the certificate logs in as: its subject UID")
    client.add_argument("--dir", help="PKI directory (default: <data_dir>/pki)")
    client.add_argument("--p12-password", nargs="?", const=_PROMPT,
                        help="encrypt the PKCS#12 file; give the flag alone to be prompted")
    client.set_defaults(run=pki_client)


def pki_setup(settings, args) -> None:
    directory = args.dir or pki.default_directory(settings.data_dir)
    with _reported(args):
        ca = pki.ensure_ca(directory)
        server = pki.ensure_server_certificate(directory, args.name)
    print(f"CA: {'created' if ca.created else 'kept existing'} {ca.certificate}")
    names = ", ".join([*pki.DEFAULT_SERVER_NAMES, *args.name])
    print(f"server certificate: {'created' if server.created else 'kept existing'} "
          f"{server.certificate} (key {server.key}) for {names}")


def pki_client(settings, args) -> None:
    directory = args.dir or pki.default_directory(settings.data_dir)
    password = args.p12_password
    if password is _PROMPT:
        password = getpass.getpass(f"PKCS#12 password for {args.user}: ") or None
    with _reported(args):
        issued = pki.issue_client_certificate(directory, args.user, password)
    # Issued all the same: the user may be created afterwards, and the CA needs no database.
    identity_commands.warn_unless_user_exists(settings, args.user)
    print(f"client certificate for {args.user!r}: {issued.certificate}\n"
          f"  key: {issued.key}\n"
          f"  certificate + key (curl --cert): {issued.combined}\n"
          f"  PKCS#12 for browsers{' (password protected)' if password else ''}: "
          f"{issued.pkcs12}")


@contextlib.contextmanager
def _reported(args):
    """Report PKIError in manage's one-line format (exit status 1)."""
    try:
        yield
    except pki.PKIError as error:
        raise SystemExit(f"keystone-lite-manage pki {args.pki_command}: {error}") from None
