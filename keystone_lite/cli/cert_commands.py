"""``keystone-lite-manage cert``: client certificates from the shell.

``cert revoke`` refuses a certificate from then on and kills every token it earned, on every
node sharing the database (keystone_lite.certificates.records); ``cert revocations`` lists what
is revoked. ``manage.build_parser`` calls ``add_commands``.
"""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from keystone_lite.certificates import records, thumbprints


def add_commands(subparsers) -> None:
    actions = subparsers.add_parser(
        "cert", help="client certificates: revoke, list revocations").add_subparsers(
        dest="cert_command", required=True, metavar="ACTION")

    revoke = actions.add_parser(
        "revoke", help="refuse a client certificate from now on and end every token it earned")
    named = revoke.add_mutually_exclusive_group(required=True)
    named.add_argument("--thumbprint", help="SHA-256 fingerprint of the certificate, as "
                       "`openssl x509 -noout -fingerprint -sha256` prints it (colons optional)")
    named.add_argument("--serial", help="serial number in hex, as `openssl x509 -noout "
                       "-serial` prints it")
    named.add_argument("--cert", metavar="PEM", help="the certificate file itself")
    revoke.add_argument("--issuer", metavar="DN", help="with --serial: only the certificate "
                        "of this issuer (default: that serial of any issuer)")
    revoke.add_argument("--reason", default="", help="kept with the revocation (255 "
                        "characters at most)")
    revoke.set_defaults(run=cert_revoke)

    listing = actions.add_parser("revocations", help="list revoked certificates")
    listing.set_defaults(run=cert_revocations)


def cert_revoke(settings, args) -> None:
    from keystone_lite.cli.manage import CommandError, _transaction
    thumbprint = args.thumbprint
    if args.cert:
        thumbprint = _thumbprint_of_file(args.cert, CommandError)
    if args.issuer and not args.serial:
        raise CommandError("--issuer goes with --serial")
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            row = records.revoke(session, thumbprint=thumbprint, serial=args.serial,
                                 issuer_dn=args.issuer, reason=args.reason)
            print(f"revoked: {_describe(row)} (id {row.id}); its tokens end at their next "
                  "validation")
    finally:
        engine.dispose()


def cert_revocations(settings, args) -> None:
    from keystone_lite.cli.manage import _transaction
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            rows = records.revocations(session)
            for row in rows:
                print(f"{row.id}  {_describe(row)}" + (f"  reason: {row.reason}"
                                                      if row.reason else ""))
            if not rows:
                print("no certificate is revoked")
    finally:
        engine.dispose()


def _describe(row) -> str:
    if row.thumbprint:
        return f"thumbprint {row.thumbprint}"
    return f"serial {row.serial} of " + (f"issuer {row.issuer_dn!r}" if row.issuer_dn
                                         else "any issuer")


def _thumbprint_of_file(path: str, error) -> str:
    try:
        with open(path, "rb") as file:
            certificate = x509.load_pem_x509_certificate(file.read())
    except ValueError:
        raise error(f"{path}: not a PEM certificate") from None
    return thumbprints.of_der(certificate.public_bytes(Encoding.DER))
