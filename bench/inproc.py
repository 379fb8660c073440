"""In-process benchmark of one target, run inside that target's virtualenv by ``bench/run.py``.

    python bench/inproc.py --target lite|keystone --config FILE --out RESULT.json [--tokens]

Writes JSON: per operation the median ops/s, p50 and p99 over the runs, and the SQL statements
per call. With ``--tokens`` it only issues and writes a caller and a subject token (for the HTTP
benchmark of the same deployment).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json

import operations
import targets
from driver import measure

DISTRIBUTIONS = {"lite": "keystone_lite", "keystone": "keystone"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, choices=sorted(targets.BUILDERS))
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokens", action="store_true")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--revoke-iterations", type=int, default=100,
                        help="fewer: each revocation leaves an event that Keystone then scans")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sql-sample", type=int, default=20)
    args = parser.parse_args()

    operations.trace_statements()
    public, admin = targets.build(args.target, args.config)
    if args.tokens:
        caller, subject = operations.tokens(public)
        result = {"caller": caller, "subject": subject}
    else:
        result = {"target": args.target,
                  "version": importlib.metadata.version(DISTRIBUTIONS[args.target]),
                  "operations": {}}
        for name, operation in operations.operations(public, admin).items():
            iterations = args.revoke_iterations if name == "revoke" else args.iterations
            figures = measure(operation, iterations, args.runs, args.warmup)
            figures["sql_per_call"], _ = operations.statements_per_call(operation,
                                                                        args.sql_sample)
            result["operations"][name] = figures
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
