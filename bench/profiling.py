"""Where keystone_lite's time goes: cProfile of start-up, validation and issue, and its SQL.

    python bench/profiling.py --config FILE --out RESULT.json --text PROFILE.txt

Runs in the lite venv on a fresh process (so the start-up profile includes the imports).
Writes a JSON summary (top functions by own time, own time per package, SQL statements per
call and the statements of one call) and the full pstats listings as text.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import sysconfig

import operations
import targets

STDLIB = sysconfig.get_paths()["stdlib"]
TOP = 15


def _where(filename: str, function: str) -> str:
    """The package a profile entry belongs to: a library, a keystone_lite module, stdlib."""
    if filename == "~":
        for library in ("sqlite3", "argon2"):
            if library in function:
                return f"{library} (C)"
        return "builtins (C)"
    if filename.startswith("<frozen "):
        return "stdlib " + filename[len("<frozen "):-1].split(".", 1)[0]
    path = os.path.realpath(filename)
    if path.startswith(os.path.join(targets.REPO, "keystone_lite") + os.sep):
        parts = os.path.relpath(path, targets.REPO).split(os.sep)
        return ".".join(parts[:2]).removesuffix(".py")
    if "site-packages" + os.sep in path:
        return path.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0].removesuffix(".py")
    if path.startswith(STDLIB):
        return "stdlib " + os.path.relpath(path, STDLIB).split(os.sep, 1)[0].removesuffix(".py")
    return "other"


def _label(key) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    path = os.path.realpath(filename)
    for root in ("site-packages" + os.sep, STDLIB + os.sep, targets.REPO + os.sep):
        if root in path:
            path = path.split(root, 1)[1]
            break
    return f"{path}:{line}({function})"


def summarise(profile: cProfile.Profile, calls: int) -> dict:
    stats = pstats.Stats(profile)
    total = stats.total_tt or 1e-9
    entries = stats.stats  # {key: (primitive calls, calls, own time, cumulative time, callers)}
    by_own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:TOP]
    by_cumulative = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)
    packages: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in entries.items():
        where = _where(filename, function)
        packages[where] = packages.get(where, 0) + own
    return {
        "calls": calls,
        "ms_per_call_profiled": total * 1000 / calls,
        "top_own_time": [{"function": _label(key), "own_pct": 100 * value[2] / total,
                          "cumulative_pct": 100 * value[3] / total,
                          "calls_per_op": value[1] / calls} for key, value in by_own],
        "top_cumulative": [{"function": _label(key), "cumulative_pct": 100 * value[3] / total}
                           for key, value in by_cumulative[:TOP * 2]],
        "own_time_by_package": dict(sorted(
            ((name, 100 * own / total) for name, own in packages.items()),
            key=lambda item: item[1], reverse=True)),
    }


def _listing(title: str, profile: cProfile.Profile) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profile, stream=buffer)
    buffer.write(f"==== {title}: by own time ====\n")
    stats.sort_stats("tottime").print_stats(40)
    buffer.write(f"==== {title}: by cumulative time ====\n")
    stats.sort_stats("cumulative").print_stats(40)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    startup = cProfile.Profile()
    operations.trace_statements()
    public, admin = startup.runcall(targets.build, "lite", args.config)
    caller, subject = operations.tokens(public)
    ops = {"validate": operations.Validate(admin, caller, subject),
           "issue": operations.Issue(public)}
    result = {"startup": summarise(startup, 1), "operations": {}}
    listings = [_listing("start-up (imports + both paste apps)", startup)]
    for name, operation in ops.items():
        for _ in range(50):
            operation()
        profile = cProfile.Profile()
        profile.runcall(lambda: [operation() for _ in range(args.calls)])
        result["operations"][name] = summarise(profile, args.calls)
        per_call, statements = operations.statements_per_call(operation, 1)
        result["operations"][name]["sql_per_call"] = per_call
        result["operations"][name]["sql_statements"] = statements
        listings.append(_listing(f"{name} x {args.calls}", profile))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    with open(args.text, "w", encoding="utf-8") as handle:
        handle.write("\n".join(listings))
    print(f"profile of {len(ops)} operations written", file=sys.stderr)


if __name__ == "__main__":
    main()
