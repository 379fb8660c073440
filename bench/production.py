"""Workloads as production sees them, for one target, in process (run by ``bench/run.py``).

    python bench/production.py issue --target T --config FILE --out RESULT.json
        --users U --per-user K --tokens FILE [--calls N --runs R --warmup W]
    python bench/production.py cold|mixed --target T --config FILE --out RESULT.json
        --tokens FILE [--calls N --runs R --warmup W]

The deployment holds the generated users (``datagen.py --own-projects`` or
``keystone_datagen.py``): ``bench-user-N``, member of ``bench-project-N``.

- ``issue``: each call issues a project-scoped token (external auth) for a user and project
  no call has used before. Afterwards, untimed, it issues ``--per-user`` tokens for each of
  the first ``--users`` users altogether and writes them (with their users) to ``--tokens``:
  the working set of the next two workloads.
- ``cold``: in a fresh process, validates the tokens of the working set in random order, each
  once (keystonemiddleware caches what it validated, so an identity service mostly sees tokens
  it has not seen yet). The caller is an admin token, as in ``inproc.py``.
- ``mixed``: 2,000 live tokens of the working set, random picks; every 50th validation is
  followed by a DELETE of a random live token and a new token for its user (2% revocations):
  the rate is validations per second of the whole time, the writes included.

Each writes JSON: median ops/s, p50, p99 and CPU ms over the runs (``driver.measure``), the
calls made, and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import random

import targets
from driver import Operation, call, measure
from operations import ADMIN, ADMIN_PROJECT, TOKENS, issue_token, project_name, user_name

LIVE_TOKENS = 2_000
WRITE_EVERY = 50


class IssueDistinct(Operation):
    """An issue for the next user never used before, on that user's own project."""

    def __init__(self, public, first_user: int = 0):
        self.public = public
        self.next_user = first_user
        self.issued: list[tuple[int, str]] = []

    def __call__(self):
        number = self.next_user
        self.next_user += 1
        self.issued.append((number, issue_token(self.public, user_name(number),
                                                project_name(number))))


class ValidateEach(Operation):
    """Validations of ``tokens`` in turn, each once."""

    def __init__(self, admin, caller: str, tokens: list[str]):
        self.admin = admin
        self.caller = caller
        self.tokens = iter(tokens)

    def __call__(self):
        call(self.admin, "GET", TOKENS, expect=200, headers={
            "X-Auth-Token": self.caller, "X-Subject-Token": next(self.tokens)})


class Mixed(Operation):
    """Random validations of the live tokens, a logout and a login every ``WRITE_EVERY``."""

    def __init__(self, public, admin, caller: str, live: list[tuple[int, str]], seed: int = 14):
        self.public = public
        self.admin = admin
        self.caller = caller
        self.live = list(live)
        self.rng = random.Random(seed)
        self.calls = 0
        self.revoked = 0

    def __call__(self):
        call(self.admin, "GET", TOKENS, expect=200, headers={
            "X-Auth-Token": self.caller,
            "X-Subject-Token": self.rng.choice(self.live)[1]})
        self.calls += 1
        if self.calls % WRITE_EVERY == 0:
            slot = self.rng.randrange(len(self.live))
            number, token = self.live[slot]
            call(self.admin, "DELETE", TOKENS, expect=204, headers={
                "X-Auth-Token": self.caller, "X-Subject-Token": token})
            self.live[slot] = (number, issue_token(self.public, user_name(number),
                                                   project_name(number)))
            self.revoked += 1


def peak_rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status
                    if line.startswith("VmHWM:")) / 1024


def run_issue(public, args) -> dict:
    operation = IssueDistinct(public)
    figures = measure(operation, args.calls, args.runs, args.warmup)
    # The working set: --per-user tokens of each of the first --users users.
    have: dict[int, int] = {}
    working = []
    for number, token in operation.issued:
        if number < args.users:
            working.append((number, token))
            have[number] = have.get(number, 0) + 1
    for number in range(args.users):
        for _ in range(args.per_user - have.get(number, 0)):
            working.append((number, issue_token(public, user_name(number),
                                                project_name(number))))
    with open(args.tokens, "w", encoding="utf-8") as handle:
        json.dump(working, handle)
    figures["distinct_users"] = operation.next_user
    figures["working_set"] = len(working)
    return figures


def run_cold(public, admin, args, working: list) -> dict:
    tokens = [token for _number, token in working]
    random.Random(2012).shuffle(tokens)
    needed = args.warmup + args.calls * args.runs
    if needed > len(tokens):
        raise SystemExit(f"cold: {needed} validations need as many tokens; "
                         f"the working set has {len(tokens)}")
    caller = issue_token(public, ADMIN, ADMIN_PROJECT)
    figures = measure(ValidateEach(admin, caller, tokens), args.calls, args.runs, args.warmup)
    figures["working_set"] = len(tokens)
    figures["validated"] = needed
    return figures


def run_mixed(public, admin, args, working: list) -> dict:
    live = working[:LIVE_TOKENS]
    caller = issue_token(public, ADMIN, ADMIN_PROJECT)
    operation = Mixed(public, admin, caller, live)
    figures = measure(operation, args.calls, args.runs, args.warmup)
    figures["live_tokens"] = len(live)
    figures["revoked"] = operation.revoked
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("issue", "cold", "mixed"))
    parser.add_argument("--target", required=True, choices=sorted(targets.BUILDERS))
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokens", required=True, help="the working set (written by issue)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    public, admin = targets.build(args.target, args.config)
    if args.workload == "issue":
        figures = run_issue(public, args)
    else:
        with open(args.tokens, encoding="utf-8") as handle:
            working = json.load(handle)
        runner = run_cold if args.workload == "cold" else run_mixed
        figures = runner(public, admin, args, working)
    figures["peak_rss_mib"] = peak_rss_mib()
    figures.update(cache_figures(public))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=1)


def cache_figures(app) -> dict:
    """keystone_lite's cache budget after the run (MiB used, limit); nothing for Keystone."""
    try:
        from keystone_lite import services
    except ImportError:
        return {}
    budget = next(iter(services._built.values())).cache_budget
    return {"cache_used_mib": budget.used / 2 ** 20, "cache_limit_mib": budget.limit / 2 ** 20}


if __name__ == "__main__":
    main()
