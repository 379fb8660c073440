"""What Prometheus metrics cost hot validation: keystone_lite in process, metrics on vs off.

    python bench/metrics_cost.py --out RESULT.json --off CONFIG --on CONFIG

Both deployments are the same but for ``[metrics]``: ``enabled = false`` in ``off``, and in
``on`` enabled with a ``multiprocess_dir`` (the costlier mode, a file write per count, that
Apache's and gunicorn's several processes need). Each validation then goes through the request
filter (a count and a latency observation) and counts a token validated and a cache hit.
prometheus_client keeps its values per process and the metrics module records for the whole
process once one app turns it on, so the ``off`` runs unset the process's recorder, as in a
process whose configuration has metrics off. The runs are interleaved (one of each in turn),
so that noise on shared cores hits both alike. Writes for ``off`` and ``on``, per operation,
the median ops/s, p50, p99 and CPU ms per call over the runs.
"""
from __future__ import annotations

import argparse
import json

import operations
import targets
from driver import call, measure_interleaved

OPERATIONS = {"validate": "", "validate_nocatalog": "?nocatalog"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--off", required=True, help="config with [metrics] enabled = false")
    parser.add_argument("--on", required=True, help="config with [metrics] enabled = true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    from keystone_lite import metrics

    benchmarked, recorders = {}, {}
    for name, config in (("off", args.off), ("on", args.on)):  # off first: nothing records yet
        public, admin = targets.build("lite", config)
        recorders[name] = metrics._recorder
        caller, subject = operations.tokens(public)
        scrape = call(admin, "GET", "/metrics", headers={"X-Auth-Token": caller})
        if (scrape.status == 200) != (name == "on"):
            raise SystemExit(f"{config}: [metrics] enabled is not {name == 'on'} "
                             f"(GET /admin/metrics: {scrape.status})")
        benchmarked[name] = {operation: operations.Validate(admin, caller, subject, query)
                             for operation, query in OPERATIONS.items()}
    if recorders["off"] is not None or recorders["on"] is None:
        raise SystemExit("the off deployment must be built before anything turns metrics on")
    result = measure_interleaved(benchmarked, args.iterations, args.runs, args.warmup,
                                 before=lambda name: setattr(metrics, "_recorder", recorders[name]))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
