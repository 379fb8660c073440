"""Does validation cost stay flat as data grows? keystone_lite, in process, empty vs full.

    python bench/scale.py --out RESULT.json NAME=CONFIG [NAME=CONFIG ...]

Loads every named deployment in this one process and runs the same operations on each, the
runs interleaved (one run of each in turn), so that noise on shared cores hits all of them
alike. Writes per name and operation the median ops/s, p50 and p99 over the runs.
"""
from __future__ import annotations

import argparse
import json

import operations
import targets
from driver import measure_interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployments", nargs="+", metavar="NAME=CONFIG")
    parser.add_argument("--out", required=True)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()

    benchmarked = {}
    for item in args.deployments:
        name, config = item.split("=", 1)
        public, admin = targets.build("lite", config)
        caller, subject = operations.tokens(public)
        benchmarked[name] = {"validate": operations.Validate(admin, caller, subject),
                             "issue": operations.Issue(public)}
    result = measure_interleaved(benchmarked, args.iterations, args.runs, args.warmup,
                                 later_warmup=10)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
