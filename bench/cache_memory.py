"""keystone_lite's per-process cache memory at the production working set (run in the lite venv).

    python bench/cache_memory.py --config FILE --tokens FILE --caller TOKEN --out RESULT.json

Validates every token of ``--tokens`` (one a line: the cold working set, 10 per user, in the
order ``production.py issue`` made them) once, in one process, and at checkpoints records what
the caches hold by their own estimate (``MemoryBudget.used``, bounded by ``[cache] memory_mb``),
the process's resident set (``VmRSS``) and its peak (``VmHWM``), and how many distinct users the
tokens so far belong to.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import targets
from driver import call
from operations import TOKENS

MIB = 2 ** 20


def _status_mib(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status
                    if line.startswith(field + ":")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--caller", required=True)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    _public, admin = targets.build("lite", args.config)
    from keystone_lite import services
    budget = next(iter(services._built.values())).cache_budget
    with open(args.tokens, encoding="ascii") as handle:
        tokens = handle.read().split()
    # Issued user by user; validated in random order, as services see them.
    order = list(range(len(tokens)))
    random.Random(14).shuffle(order)
    checkpoints = {len(tokens) // 10, len(tokens) // 2, len(tokens)}
    result = {"limit_mib": budget.limit / MIB, "tokens": len(tokens),
              "rss_before_mib": _status_mib("VmRSS"), "checkpoints": []}
    users: set[int] = set()
    started = time.perf_counter()
    for done, index in enumerate(order, 1):
        call(admin, "GET", TOKENS, expect=200, headers={
            "X-Auth-Token": args.caller, "X-Subject-Token": tokens[index]})
        users.add(index // args.per_user)
        if done in checkpoints:
            result["checkpoints"].append({
                "validated": done, "users": len(users), "cache_used_mib": budget.used / MIB,
                "rss_mib": _status_mib("VmRSS"), "peak_rss_mib": _status_mib("VmHWM"),
                "seconds": time.perf_counter() - started})
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
