"""Fill a bootstrapped keystone_lite database with production-sized data, in bulk.

    python bench/datagen.py CONFIG [--users 100000] [--tokens 1000000] [--events 100000]
                            [--own-projects]

Runs in the lite venv against a copy of a bootstrapped deployment. Adds ``--users`` users, each
a member of project ``demo`` (one role assignment each); ``--tokens`` live uuid tokens of those
users, with real encoded payloads; ``--events`` revocation events (mostly audit ids, some users
and projects) that match none of the benchmark's own tokens. SQLAlchemy Core executemany, one
transaction, in chunks; prints one JSON line with the counts and the seconds taken.

With ``--own-projects`` each user ``bench-user-N`` is instead the member of a project of its
own, ``bench-project-N`` (the production workloads of ``production.py``: issue across many
users and projects); ``keystone_datagen.py`` writes the same users into Keystone.
"""
from __future__ import annotations

import argparse
import base64
import json
import random
import time

from sqlalchemy import create_engine, event, select, text

from keystone_lite import settings as settings_module
from keystone_lite.db import models
from keystone_lite.token import payload as token_payload
from operations import project_name, user_name

CHUNK = 50_000
HOUR_US = 3_600_000_000


def _chunks(rows, size: int = CHUNK):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _audit_id(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def generate(config: str, users: int, tokens: int, events: int, seed: int = 2012,
             own_projects: bool = False) -> dict:
    settings = settings_module.load(config)
    engine = create_engine(settings.database_connection)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # PostgreSQL (twonode.py's database) needs none of this
        event.listen(engine, "connect", _bulk_pragmas)
    rng = random.Random(seed)
    now = token_payload.now_us()
    started = time.perf_counter()
    with engine.begin() as connection:
        demo = connection.scalar(select(models.Project.id).where(models.Project.name == "demo"))
        member = connection.scalar(select(models.Role.id).where(models.Role.name == "member"))
        user_ids = [_hex_id(rng) for _ in range(users)]
        for chunk in _chunks({"id": user_id, "domain_id": settings.default_domain_id,
                              "name": user_name(number), "enabled": True,
                              "password_hash": None, "default_project_id": None,
                              "description": ""} for number, user_id in enumerate(user_ids)):
            connection.execute(models.User.__table__.insert(), chunk)
        targets = [demo] * users
        if own_projects:
            targets = [_hex_id(rng) for _ in range(users)]
            for chunk in _chunks({"id": project_id, "domain_id": settings.default_domain_id,
                                  "name": project_name(number), "enabled": True,
                                  "description": ""}
                                 for number, project_id in enumerate(targets)):
                connection.execute(models.Project.__table__.insert(), chunk)
        for chunk in _chunks({"user_id": user_id, "target_type": "project", "target_id": target,
                              "role_id": member} for user_id, target in zip(user_ids, targets)):
            connection.execute(models.RoleAssignment.__table__.insert(), chunk)
        for chunk in _chunks(_token_rows(rng, user_ids, demo, now, tokens)):
            connection.execute(models.Token.__table__.insert(), chunk)
        for chunk in _chunks(_event_rows(rng, user_ids, now, events)):
            connection.execute(models.RevocationEvent.__table__.insert(), chunk)
    if sqlite:
        with engine.connect() as connection:
            connection.execute(text("PRAGMA journal_mode = WAL"))
    engine.dispose()
    return {"users": users, "tokens": tokens, "revocation_events": events,
            "seconds": time.perf_counter() - started}


def _bulk_pragmas(connection, _record) -> None:
    """A throw-away copy: no journal, no fsync, a big page cache (WAL again at the end)."""
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -262144"):
        connection.execute(f"PRAGMA {pragma}")


def _token_rows(rng, user_ids, project_id, now, count):
    for _ in range(count):
        user_id = rng.choice(user_ids)
        issued_at = now - rng.randrange(HOUR_US)
        payload = token_payload.TokenPayload(
            user_id=user_id, methods=("external",), issued_at=issued_at,
            expires_at=issued_at + HOUR_US, audit_ids=(_audit_id(rng),),
            scope_kind="project", scope_id=project_id)
        yield {"id": _hex_id(rng), "user_id": user_id, "expires_at": payload.expires_at,
               "payload": token_payload.encode(payload)}


def _event_rows(rng, user_ids, now, count):
    """90% audit ids, 9% users (of the generated ones), 1% unknown projects; unique keys."""
    revoked_users = rng.sample(user_ids, min(len(user_ids), count * 9 // 100))
    for number in range(count):
        if number < len(revoked_users):
            kind, key = "user", revoked_users[number]
        elif number < len(revoked_users) + count // 100:
            kind, key = "project", _hex_id(rng)
        else:
            kind, key = "audit", _audit_id(rng)
        revoked_at = now - rng.randrange(HOUR_US)
        yield {"kind": kind, "key": key, "revoked_at": revoked_at,
               "expires_at": revoked_at + HOUR_US}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--own-projects", action="store_true",
                        help="each user the member of a project of its own, not of demo")
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(generate(args.config, args.users, args.tokens,
                                              args.events, own_projects=args.own_projects)),
          flush=True)


if __name__ == "__main__":
    main()
