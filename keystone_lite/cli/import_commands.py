"""``keystone-lite-manage import-keystone``: copy an OpenStack Keystone database into
keystone_lite's, in one transaction (keystone_lite.keystone_import; docs/migration.md).

Run it while Keystone still serves, as often as wanted: each run moves only the difference.
``--dry-run`` prints what would change and writes nothing. ``manage.build_parser`` calls
``add_commands``.
"""
from __future__ import annotations

import time

from cryptography.fernet import Fernet, MultiFernet

from keystone_lite.identity import credential_keys, keystone_hashes
from keystone_lite.keystone_import import apply as apply_module, source
from keystone_lite.token import key_repository


def add_commands(subparsers) -> None:
    command = subparsers.add_parser(
        "import-keystone", help="import an OpenStack Keystone database (users keep their "
        "ids and passwords; run again to move what changed since)")
    command.add_argument("--connection", required=True, metavar="URL",
                         help="Keystone's [database] connection, as an SQLAlchemy URL")
    command.add_argument("--credential-keys", metavar="DIRECTORY",
                         help="Keystone's [credential] key_repository: its credentials are "
                         "decrypted with it and encrypted again with keystone_lite's keys")
    command.add_argument("--dry-run", action="store_true",
                         help="print what would change; write nothing")
    command.add_argument("--verbose", action="store_true",
                         help="print every row that changes, not only the counts")
    command.set_defaults(run=import_keystone)


def import_keystone(settings, args) -> None:
    from keystone_lite.cli.manage import CommandError, _transaction
    started = time.monotonic()
    keystone_keys = None
    if args.credential_keys:
        try:
            keys, _paths, _seen = key_repository.load(args.credential_keys,
                                                      "credential_setup (in Keystone)")
        except key_repository.KeyRepositoryError as exc:
            raise CommandError(str(exc)) from None
        keystone_keys = MultiFernet([Fernet(key) for key in keys])
    try:
        wanted = source.read(args.connection, keystone_keys)
    except source.ImportRefused as refused:
        raise CommandError("import refused, nothing written:\n  " + "\n  ".join(
            refused.reasons)) from None
    lite_keys = None
    if wanted.rows.get(source.models.Credential):
        try:
            lite_keys = credential_keys.load(settings.credential_key_repository)
        except key_repository.KeyRepositoryError as exc:
            raise CommandError(str(exc)) from None
    lifetime_us = (settings.token_expiration + settings.allow_expired_window) * 1_000_000
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            try:
                changes = apply_module.apply(session, wanted, lite_keys,
                                             keystone_hashes.rehash_of, lifetime_us)
            except source.ImportRefused as refused:
                raise CommandError("import refused, nothing written:\n  " + "\n  ".join(
                    refused.reasons)) from None
            if args.dry_run:
                session.rollback()
    finally:
        engine.dispose()
    _report(changes, wanted, args, time.monotonic() - started)


def _report(changes, wanted, args, seconds: float) -> None:
    if args.dry_run or args.verbose:
        for line in changes.lines:
            print(line)
    verb = "would change" if args.dry_run else "changed"
    if not changes.total:
        print(f"nothing to change: keystone_lite already holds what Keystone holds "
              f"({seconds:.1f} s)")
    else:
        parts = []
        for label, counts in (("added", changes.added), ("updated", changes.updated),
                              ("removed", changes.removed)):
            if counts:
                parts.append(f"{label} " + ", ".join(f"{count} {table}" for table, count
                                                     in sorted(counts.items())))
        if changes.revocations:
            parts.append(f"{changes.revocations} revocation event(s) from Keystone")
        print(f"{verb}: " + "; ".join(parts) + f" ({seconds:.1f} s)")
    for note in wanted.notes:
        print(f"not imported: {note}")
    if args.dry_run:
        print("dry run: nothing written")
