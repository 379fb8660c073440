"""The users of ``datagen.py --own-projects``, written into a bootstrapped Keystone database.

    python bench/keystone_datagen.py KEYSTONE_CONF --users 10000

Runs in Keystone's virtualenv. ``bench-user-N`` (default domain, no password: it signs in by
external authentication) is the member of ``bench-project-N``, as in keystone_lite. Creating
them through Keystone's API would take minutes (a few ms per call), so the rows are written
in bulk, shaped as the API writes them (compare ``alice`` and ``demo``, created through the
API by ``keystone_users.py``): ``user`` + ``local_user``, ``project`` under the default
domain, one ``UserProject`` assignment each. Prints one JSON line with the counts.
"""
from __future__ import annotations

import argparse
import configparser
import datetime
import json
import random
import time

from sqlalchemy import MetaData, create_engine, select

from operations import project_name, user_name

CHUNK = 10_000


def generate(config: str, users: int, seed: int = 2012) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config)
    engine = create_engine(parser["database"]["connection"])
    metadata = MetaData()
    metadata.reflect(engine, only=("user", "local_user", "project", "assignment", "role"))
    tables = metadata.tables
    rng = random.Random(seed)
    now = datetime.datetime.utcnow()
    started = time.perf_counter()
    with engine.begin() as connection:
        member = connection.scalar(select(tables["role"].c.id).where(
            tables["role"].c.name == "member"))
        for first in range(0, users, CHUNK):
            numbers = range(first, min(first + CHUNK, users))
            user_ids = [f"{rng.getrandbits(128):032x}" for _ in numbers]
            project_ids = [f"{rng.getrandbits(128):032x}" for _ in numbers]
            connection.execute(tables["user"].insert(), [
                {"id": user_id, "extra": "{}", "enabled": True, "default_project_id": None,
                 "created_at": now, "last_active_at": None, "domain_id": "default"}
                for user_id in user_ids])
            connection.execute(tables["local_user"].insert(), [
                {"user_id": user_id, "domain_id": "default", "name": user_name(number),
                 "failed_auth_count": None, "failed_auth_at": None}
                for number, user_id in zip(numbers, user_ids)])
            connection.execute(tables["project"].insert(), [
                {"id": project_id, "name": project_name(number), "extra": "{}",
                 "description": "", "enabled": True, "domain_id": "default",
                 "parent_id": "default", "is_domain": False}
                for number, project_id in zip(numbers, project_ids)])
            connection.execute(tables["assignment"].insert(), [
                {"type": "UserProject", "actor_id": user_id, "target_id": project_id,
                 "role_id": member, "inherited": False}
                for user_id, project_id in zip(user_ids, project_ids)])
    engine.dispose()
    return {"users": users, "projects": users, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(generate(args.config, args.users)), flush=True)


if __name__ == "__main__":
    main()
