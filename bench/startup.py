"""App start-up in a fresh process: imports plus app construction, until the app can serve.

    python bench/startup.py --target lite|keystone --config FILE

keystone_lite loads both paste apps (main and admin); Keystone builds its one app. The clock
starts before the first import (the interpreter's own start, the same for both, is left out).
Prints one JSON line: seconds, and the process's peak RSS in MiB at that point.
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - after the clock starts, on purpose
import json  # noqa: E402
import resource  # noqa: E402

import targets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, choices=sorted(targets.BUILDERS))
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    targets.build(args.target, args.config)
    seconds = time.perf_counter() - STARTED
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH_JSON " + json.dumps({"seconds": seconds, "peak_rss_mib": peak}), flush=True)


if __name__ == "__main__":
    main()
