"""``keystone-lite-manage cert ...``: client certificates as keystone_lite sees them.

``cert revoke`` refuses a certificate from then on and ends every token it earned, on every
node sharing the database (keystone_lite.certificates.records); ``cert revocations`` lists what
is revoked.

``cert explain --cert FILE [--mapping-file RULES]``: what the mapping rules make of a
certificate (its assertion, each rule tried and why it matched or not, the user, domain and
groups, and whether that user exists or would be provisioned). Exit status 0 when the
certificate would log in, 1 when no rule matched or its user would be refused (or on an error,
reported in one line as every command does).

Kept apart from manage.py so the certificate commands can grow: each action is one
``_add_<action>`` function called by ``add_commands``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os

import sqlalchemy.exc
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from keystone_lite import errors, settings as settings_module
from keystone_lite.certificates import mapped_login, records
from keystone_lite.db import session as db_session
from keystone_lite.escape import printable
from keystone_lite.tls_environ import dn_string

NO_MATCH = 1  # the exit status of a certificate that would not log in


def add_commands(subparsers) -> None:
    """Add the ``cert`` group and its actions to keystone-lite-manage's sub-commands."""
    actions = subparsers.add_parser(
        "cert", help="client certificates: how keystone_lite maps them to users, revocation"
    ).add_subparsers(dest="cert_command", required=True, metavar="ACTION")
    _add_explain(actions)
    _add_revoke(actions)
    _add_revocations(actions)


def _add_explain(actions) -> None:
    explain = actions.add_parser(
        "explain", help="show what the mapping rules make of a certificate, rule by rule; exit "
        "status 1 when it would not log in")
    explain.add_argument("--cert", required=True, metavar="FILE",
                         help="the client certificate: PEM (a certificate + key file as curl "
                         "--cert takes works too) or DER")
    explain.add_argument("--mapping-file", metavar="FILE",
                         help="rules to try (JSON, as [cert_auth] mapping_file); default: the "
                         "configured mapping_file or mapping_id")
    explain.set_defaults(run=cert_explain)


def _add_revoke(actions) -> None:
    revoke = actions.add_parser(
        "revoke", help="refuse a client certificate from now on and end every token it earned")
    named = revoke.add_mutually_exclusive_group(required=True)
    named.add_argument("--thumbprint", help="SHA-256 fingerprint of the certificate, as "
                       "`openssl x509 -noout -fingerprint -sha256` prints it (colons optional)")
    named.add_argument("--serial", help="serial number in hex, as `openssl x509 -noout "
                       "-serial` prints it")
    named.add_argument("--cert", metavar="FILE", help="the certificate file itself (PEM or DER)")
    revoke.add_argument("--issuer", metavar="DN", help="with --serial: only the certificate "
                        "of this issuer (default: that serial of any issuer)")
    revoke.add_argument("--reason", default="", help="kept with the revocation (255 "
                        "characters at most)")
    revoke.set_defaults(run=cert_revoke)


def _add_revocations(actions) -> None:
    actions.add_parser("revocations", help="list revoked certificates").set_defaults(
        run=cert_revocations)


def cert_revoke(settings, args) -> None:
    from keystone_lite.cli.manage import CommandError, _transaction
    thumbprint = args.thumbprint
    if args.cert:
        thumbprint = read_certificate_file(args.cert).fingerprint(hashes.SHA256()).hex()
    if args.issuer and not args.serial:
        raise CommandError("--issuer goes with --serial")
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            row = records.revoke(session, thumbprint=thumbprint, serial=args.serial,
                                 issuer_dn=args.issuer, reason=args.reason)
            print(f"revoked: {_revoked(row)} (id {row.id}); its tokens end at their next "
                  "validation")
    finally:
        engine.dispose()


def cert_revocations(settings, args) -> None:
    with _store(settings) as session:
        rows = records.revocations(session)
        for row in rows:
            print(f"{row.id}  {_revoked(row)}" + (f"  reason: {_text(row.reason)}"
                                                  if row.reason else ""))
        if not rows:
            print("no certificate is revoked")


def _revoked(row) -> str:
    if row.thumbprint:
        return f"thumbprint {row.thumbprint}"
    return f"serial {row.serial} of " + (f"issuer {_text(repr(row.issuer_dn))}"
                                         if row.issuer_dn else "any issuer")


def cert_explain(settings, args) -> int:
    from keystone_lite.cli.manage import CommandError  # manage imports this module
    certificate = read_certificate_file(args.cert)
    print(f"certificate {args.cert}")
    print(f"  subject {_text(dn_string(certificate.subject))}")
    print(f"  issuer  {_text(dn_string(certificate.issuer))}")
    print(f"  SHA-256 {certificate.fingerprint(hashes.SHA256()).hex()}")
    if args.mapping_file:
        try:
            rules = settings_module.load_mapping_file(args.mapping_file)
        except ValueError as error:
            raise CommandError(str(error)) from None
        settings = dataclasses.replace(settings, mapping_rules=rules, mapping_id=None)
        source = f"--mapping-file {args.mapping_file}"
    elif settings.mapping_rules is not None:
        source = f"[cert_auth] mapping_file {settings.mapping_file}"
    elif settings.mapping_id is not None:
        source = f"stored mapping {settings.mapping_id!r} ([cert_auth] mapping_id)"
    else:
        raise CommandError("no mapping rules: pass --mapping-file, or set [cert_auth] "
                           "mapping_file or mapping_id (without them the certificate's "
                           f"{settings.user_attribute} is the user's name)")
    mapper = mapped_login.CertificateMapper(settings)
    if settings.mapping_id is None:
        return _explain(mapper, certificate, source, None, settings)
    with _store(settings) as session:
        return _explain(mapper, certificate, source, session, settings)


def _explain(mapper, certificate, source: str, session, settings) -> int:
    find = mapped_login.direct_find(session) if session is not None else None
    try:
        reading, outcome = mapper.explain(find, certificate)
    except mapped_login.Refusal as refusal:
        print(f"rules: {source}: {refusal}")
        return NO_MATCH
    print("assertion (what the rules see)")
    for key in sorted(reading.assertion):
        print(f"  {key} = {_text(reading.assertion[key])}")
    for key, why in sorted(reading.left_out.items()):
        print(f"  {key} left out: {why}")
    count = len(mapper.rules(find).rules)
    print(f"rules: {source} ({count} rule{'s' if count != 1 else ''})")
    for line in outcome.trace:
        print(f"  {_text(line)}")
    if not outcome.matched:
        print("result: no login (no rule matched)")
        return NO_MATCH
    print(f"result: rule {outcome.rule_index} gives")
    print(f"  user: {_mapped(outcome.user) if outcome.user else 'none'}")
    print(f"  domain: {_mapped(outcome.domain) if outcome.domain else 'none'}")
    print(f"  groups: {'; '.join(map(mapped_login.group_reference, outcome.groups)) or 'none'}")
    if session is not None:
        return _in_store(mapper, session, outcome)
    from keystone_lite.cli.manage import CommandError
    try:
        with _store(settings) as session:
            return _in_store(mapper, session, outcome)
    except (CommandError, errors.KeystoneError, sqlalchemy.exc.SQLAlchemyError) as error:
        # The rules were shown; whether the user exists is a bonus.
        reason = getattr(error, "message", None) or str(error).splitlines()[0]
        print(f"store: not consulted ({_text(reason)})")
        return 0 if outcome.user else NO_MATCH


def _in_store(mapper, session, outcome) -> int:
    try:
        resolution = mapper.resolve(session, mapped_login.direct_find(session), outcome)
    except mapped_login.Refusal as refusal:
        print(f"store: the login would be refused: {_text(str(refusal))}")
        return NO_MATCH
    domain = resolution.domain
    if resolution.user is not None:
        user = resolution.user
        print(f"store: user {_text(repr(user.name))} (id {user.id}) of domain "
              f"{_text(repr(domain.name))} exists")
    else:
        wanted = ", ".join(f"{key} {_text(repr(value))}"
                           for key, value in resolution.provision.items())
        print(f"store: no such user yet; the first login provisions one ({wanted}) in domain "
              f"{_text(repr(domain.name))}")
    print(f"  group ids: {', '.join(resolution.group_ids) or 'none'}")
    for note in resolution.notes:
        print(f"  {_text(note)}")
    return 0


@contextlib.contextmanager
def _store(settings):
    """One read-only look at the store (manage's transaction, rolled back)."""
    from keystone_lite.cli.manage import CommandError, _transaction
    path = db_session.sqlite_file(settings.database_connection)
    if path is not None and not os.path.exists(path):  # opening it would create it
        raise CommandError(f"no database at {path}")
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            yield session
            session.rollback()
    finally:
        engine.dispose()


def read_certificate_file(path: str) -> x509.Certificate:
    """The (first) certificate of a PEM file, or a DER one; CommandError otherwise."""
    from keystone_lite.cli.manage import CommandError
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CommandError(f"{path}: not a PEM or DER X.509 certificate") from None


def _mapped(reference: dict) -> str:
    parts = []
    for key, value in reference.items():
        parts.append(f"{key} {_mapped(value)}" if isinstance(value, dict)
                     else f"{key} {_text(repr(value))}")
    return ", ".join(parts)


def _text(value: str) -> str:
    return printable(value, 2000)
