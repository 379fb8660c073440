"""``keystone-lite-manage pki setup|client|revoke|crl``: the development PKI from the shell.

Kept apart from manage.py so the PKI commands can grow without touching the keystone-manage
look-alikes; ``manage.build_parser`` calls ``add_commands``.
"""
from __future__ import annotations

import contextlib
import getpass

from keystone_lite import pki
from keystone_lite.cli import identity_commands
from keystone_lite.tls_environ import serial_string

_PROMPT = object()


def add_commands(subparsers) -> None:
    """Add ``pki setup``, ``client``, ``revoke`` and ``crl`` to keystone-lite-manage's
    sub-commands."""
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
    for option, meaning in (("email", "an e-mail address (rfc822Name)"),
                            ("dns", "a DNS name"), ("uri", "a URI"),
                            ("upn", "a Microsoft user principal name (otherName msUPN)")):
        client.add_argument(f"--{option}", action="append", default=[], metavar="VALUE",
                            help=f"subject alternative name: {meaning} (repeatable)")
    client.set_defaults(run=pki_client)

    revoke = actions.add_parser("revoke", help="record USER's current certificate as revoked "
                                "(publish it with pki crl)")
    revoke.add_argument("user", metavar="USER", help="the user whose current dev-PKI client "
                        "certificate (clients/USER.crt) is revoked")
    revoke.add_argument("--dir", help="PKI directory (default: <data_dir>/pki)")
    revoke.set_defaults(run=pki_revoke)

    crl = actions.add_parser("crl", help="write the CA's certificate revocation list, signed by "
                             "the dev CA (for [cert_auth] crl_file and SSLCARevocationFile)")
    crl.add_argument("--dir", help="PKI directory (default: <data_dir>/pki)")
    crl.add_argument("--out", metavar="FILE", help="where to write it, replaced atomically "
                     "(default: <PKI directory>/crl.pem, or crl.der with --der)")
    crl.add_argument("--days", type=int, default=pki.CRL_DAYS, metavar="N",
                     help=f"days until its nextUpdate (default: {pki.CRL_DAYS})")
    crl.add_argument("--der", action="store_true", help="DER instead of PEM")
    crl.add_argument("--next-update-in-past", action="store_true",
                     help="write an out-of-date CRL (nextUpdate a day ago), to test what "
                     "servers do with one: they must refuse every certificate")
    crl.set_defaults(run=pki_crl)


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
    names = pki.AlternativeNames(tuple(args.email), tuple(args.dns), tuple(args.uri),
                                 tuple(args.upn))
    with _reported(args):
        issued = pki.issue_client_certificate(directory, args.user, password,
                                              alternative_names=names)
    # Issued all the same: the user may be created afterwards, and the CA needs no database.
    identity_commands.warn_unless_user_exists(settings, args.user)
    print(f"client certificate for {args.user!r}: {issued.certificate}\n"
          f"  key: {issued.key}\n"
          f"  certificate + key (curl --cert): {issued.combined}\n"
          f"  PKCS#12 for browsers{' (password protected)' if password else ''}: "
          f"{issued.pkcs12}")


def pki_revoke(settings, args) -> None:
    directory = args.dir or pki.default_directory(settings.data_dir)
    with _reported(args):
        serial, newly = pki.revoke_client_certificate(directory, args.user)
    state = "revoked" if newly else "was already revoked"
    print(f"certificate of {args.user!r} (serial {serial_string(serial)}) {state}; publish the "
          "CRL with keystone-lite-manage pki crl")


def pki_crl(settings, args) -> None:
    directory = args.dir or pki.default_directory(settings.data_dir)
    with _reported(args):
        path, crl = pki.write_crl(directory, args.out, args.days, args.next_update_in_past,
                                  args.der)
    print(f"CRL: {path} ({len(list(crl))} revoked serial(s), next update "
          f"{crl.next_update_utc:%Y-%m-%d %H:%M:%S} UTC)")


@contextlib.contextmanager
def _reported(args):
    """Report PKIError in manage's one-line format (exit status 1)."""
    try:
        yield
    except pki.PKIError as error:
        raise SystemExit(f"keystone-lite-manage pki {args.pki_command}: {error}") from None
