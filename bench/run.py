"""keystone_lite vs OpenStack Keystone, side by side: the one benchmark command.

    python3 bench/run.py [--quick] [--skip-http] [--skip-apache] [--skip-binding]
                         [--skip-metrics] [--skip-scale] [--skip-profile] [--no-docs] [--skip-production]
                         [--skip-cold-http] [--skip-memory] [--skip-request-profile]
                         [--skip-two-nodes] [--only-production | --only-production-http]

Standard library only: it sets up its own tools (``bench/envs.py``), builds one bootstrapped
deployment of each product, then measures start-up, in-process operations, what certificate-
bound tokens cost keystone_lite's validation (binding on vs off), what Prometheus metrics cost
it (metrics on vs off), HTTP validation (gunicorn for
both plus a trivial app; keystone_lite also under Apache mod_wsgi), flat cost over a generated
full database, and profiles keystone_lite; and the production rows of issue 14: workloads in
process, cold validation over HTTP, cache memory at the working set, a py-spy profile of a
gunicorn worker, and two nodes on one PostgreSQL. It prints the tables, saves the results
to ``bench/results/<date>.json`` and, unless ``--no-docs``, refreshes the chart and the
generated tables of ``docs/performance.md``. See ``bench/README.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coldhttp  # noqa: E402 - bench/ is put on the path just above
import deploy  # noqa: E402
import envs  # noqa: E402
import loadtest  # noqa: E402
import report  # noqa: E402
import request_profile  # noqa: E402
import servers  # noqa: E402
import twonode  # noqa: E402
from processes import BENCH, REPO, run_bench_script  # noqa: E402

RESULTS = os.path.join(BENCH, "results")
DOC = os.path.join(REPO, "docs", "performance.md")
DOC_ASSETS = os.path.join(REPO, "docs", "bench")


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _json_line(output: str) -> dict:
    line = next(line for line in reversed(output.splitlines()) if line.startswith("BENCH_JSON "))
    return json.loads(line.split(" ", 1)[1])


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: few calls, short HTTP runs, a small database")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-apache", action="store_true")
    parser.add_argument("--skip-binding", action="store_true")
    parser.add_argument("--skip-metrics", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-production", action="store_true",
                        help="leave out the production workloads (production.py)")
    parser.add_argument("--only-production", action="store_true",
                        help="run the production workloads only (no docs update)")
    parser.add_argument("--skip-cold-http", action="store_true",
                        help="leave out cold validation over HTTP (coldhttp.py)")
    parser.add_argument("--skip-request-profile", action="store_true",
                        help="leave out the per-request profile of HTTP validation")
    parser.add_argument("--skip-two-nodes", action="store_true",
                        help="leave out the two nodes on one PostgreSQL (twonode.py)")
    parser.add_argument("--skip-memory", action="store_true",
                        help="leave out cache memory at the production working sets")
    parser.add_argument("--only-production-http", action="store_true",
                        help="run only cold HTTP, the request profile, two nodes and memory "
                             "(no docs update)")
    parser.add_argument("--no-docs", action="store_true",
                        help="leave docs/performance.md and docs/bench/ alone")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quick = args.quick
    args.iterations, args.revoke_iterations = (100, 30) if quick else (300, 60)
    args.runs, args.warmup_calls = (2, 20) if quick else (5, 30)
    args.startup_runs = 2 if quick else 5
    args.http = loadtest.Settings(duration=2 if quick else 5, warmup=1 if quick else 2,
                                  connections=4, runs=1 if quick else 3)
    args.scale = ({"users": 10_000, "tokens": 100_000, "events": 10_000} if quick else
                  {"users": 100_000, "tokens": 1_000_000, "events": 100_000})
    args.scale_iterations, args.scale_runs, args.scale_warmup = (100, 2, 20) if quick else (
        150, 3, 50)
    args.production = PRODUCTION_QUICK if quick else PRODUCTION
    if args.only_production:
        args.no_docs = args.skip_http = args.skip_scale = args.skip_profile = True
        args.skip_binding = args.skip_metrics = args.skip_cold_http = args.skip_two_nodes = True
        args.skip_memory = args.skip_request_profile = True
    if args.only_production_http:
        args.no_docs = args.skip_http = args.skip_scale = args.skip_profile = True
        args.skip_binding = args.skip_metrics = args.skip_production = True
    args.cold_http = COLD_HTTP_QUICK if quick else COLD_HTTP
    args.two_nodes = TWO_NODES_QUICK if quick else TWO_NODES
    # Validation takes ~50 µs: many calls per run, many runs, for a ratio within a few percent.
    args.binding_iterations, args.binding_runs, args.binding_warmup = (500, 3, 100) if quick \
        else (2000, 9, 300)
    return args


# The production workloads (production.py), per target. keystone_lite's working set is
# 10,000 users with 10 tokens each; Keystone issues ~6 ms per token and validates a cold one in
# ~10 ms, so it gets the same shape (10 tokens per user, each validated once, users never seen
# before) on 300 of its 10,000 users: the same per-call work, fewer calls.
PRODUCTION = {
    "lite": {"users": 10_000, "per_user": 10,
             "issue": (3_000, 50), "cold": (30_000, 500), "mixed": (5_000, 200)},
    "keystone": {"users": 300, "per_user": 10,
                 "issue": (100, 10), "cold": (800, 50), "mixed": (300, 20)},
    "population": 10_000, "runs": 3}
PRODUCTION_QUICK = {
    "lite": {"users": 2_000, "per_user": 5,
             "issue": (500, 20), "cold": (2_000, 100), "mixed": (1_000, 50)},
    "keystone": {"users": 100, "per_user": 10,
                 "issue": (30, 5), "cold": (200, 20), "mixed": (100, 10)},
    "population": 2_000, "runs": 3}


# Cold validation over HTTP (coldhttp.py): the production working sets of 10 tokens per user.
# Every run starts fresh servers, so each run walks the same working set from its start:
# keystone_lite's 100,000 tokens outlast ~5 s at a few thousand per second, Keystone's 3,000 at
# a few hundred.
COLD_HTTP = {"lite": {"users": 10_000, "per_user": 10},
             "keystone": {"users": 300, "per_user": 10}, "population": 10_000}
COLD_HTTP_QUICK = {"lite": {"users": 2_000, "per_user": 5},
                   "keystone": {"users": 100, "per_user": 10}, "population": 2_000}
# Two nodes on one PostgreSQL (twonode.py): three slices of the working set per run (node A
# alone; A and B together), fresh nodes each run; the probes for the revocation latency.
TWO_NODES = {"users": 6_000, "per_user": 10, "population": 10_000, "probes": 30}
TWO_NODES_QUICK = {"users": 1_500, "per_user": 10, "population": 2_000, "probes": 10}


def machine() -> dict:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        memory_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": memory_kib / 2 ** 20,
            "kernel": platform.release(),
            "loadavg_before": " ".join(f"{value:.2f}" for value in os.getloadavg())}


def versions(tools: envs.Tools) -> dict:
    def first_line(command):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
            return (result.stdout or result.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return None

    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "?"
    dirty = first_line(["git", "-C", REPO, "status", "--porcelain", "--", "keystone_lite"])
    apache = first_line([tools.apache, "-v"]) if tools.apache else None
    return {
        "python": platform.python_version(),
        "keystone_lite": f"{commit}{' (uncommitted changes)' if dirty else ''}",
        "keystone": envs.KEYSTONE_VERSION,
        "gunicorn": envs.GUNICORN.replace("==", " "),
        "wrk": (first_line([tools.wrk, "--version"]) or "wrk").split(" [")[0]
        if tools.wrk else None,
        "apache": apache.split(":", 1)[1].strip().split(" ")[0] if apache else None,
    }


def _median_of(runs: list[dict], keys) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def startup_phase(tools, args, lite: deploy.Instance, keystone: deploy.Instance) -> dict:
    """Fresh processes, lite and Keystone in turn (after one untimed run of each, which
    writes the byte-code caches a deployed server would have)."""
    commands = {target: (venv, ("startup.py", "--target", target, "--config", instance.config))
                for target, venv, instance in (("lite", tools.lite, lite),
                                               ("keystone", tools.keystone, keystone))}
    for venv, command in commands.values():
        run_bench_script(venv, *command)
    runs: dict = {target: [] for target in commands}
    for _ in range(args.startup_runs):
        for target, (venv, command) in commands.items():
            runs[target].append(_json_line(run_bench_script(venv, *command)))
    return {target: _median_of(measured, ("seconds", "peak_rss_mib")) | {"runs": measured}
            for target, measured in runs.items()}


def inprocess_phase(tools, args, workdir, templates) -> dict:
    """Rounds of one run per operation, lite and Keystone in turn, each round in a fresh
    process on a fresh copy of the deployment: noise on the shared cores hits both alike, and
    no round inherits another's revocations. Medians over the rounds."""
    rounds: dict = {"lite": [], "keystone": []}
    for number in range(args.runs):
        for target, venv, make in (("lite", tools.lite, deploy.lite_instance),
                                   ("keystone", tools.keystone, deploy.keystone_instance)):
            _log(f"in process, round {number + 1}/{args.runs}: {target}")
            instance = make(templates[target], os.path.join(workdir, f"inproc-{target}-{number}"))
            out = os.path.join(workdir, f"inproc-{target}-{number}.json")
            run_bench_script(venv, "inproc.py", "--target", target, "--config",
                             instance.config, "--out", out, "--iterations",
                             str(args.iterations), "--revoke-iterations",
                             str(args.revoke_iterations), "--runs", "1", "--warmup",
                             str(args.warmup_calls), timeout=1800)
            rounds[target].append(_read(out))
    result = {}
    for target, measured in rounds.items():
        operations = {}
        for name in measured[0]["operations"]:
            runs = [round_["operations"][name]["runs"][0] for round_ in measured]
            operations[name] = _median_of(runs, ("ops_per_s", "p50_ms", "p99_ms",
                                                 "cpu_ms")) | {
                "sql_per_call": measured[-1]["operations"][name]["sql_per_call"],
                "iterations": measured[0]["operations"][name]["iterations"], "runs": runs}
        result[target] = {"version": measured[0]["version"], "operations": operations}
    return result


def _with_tokens(venv: str, target: str, instance: deploy.Instance, workdir: str) -> dict:
    out = os.path.join(workdir, f"tokens-{target}-{os.path.basename(instance.directory)}.json")
    run_bench_script(venv, "inproc.py", "--target", target, "--config", instance.config,
                     "--out", out, "--tokens")
    return {"config": instance.config, **_read(out)}


def http_phase(tools, args, workdir, templates) -> dict:
    lite = _with_tokens(tools.lite, "lite", deploy.lite_instance(
        templates["lite"], os.path.join(workdir, "http-lite")), workdir)
    keystone = _with_tokens(tools.keystone, "keystone", deploy.keystone_instance(
        templates["keystone"], os.path.join(workdir, "http-keystone")), workdir)
    apache_lite = None
    if tools.apache and not args.skip_apache:
        instance = deploy.lite_instance(templates["lite"], os.path.join(workdir, "apache-lite"))
        apache_lite = _with_tokens(tools.lite, "lite", instance, workdir)
        servers.give_to(os.path.join(instance.directory, "data"), servers.run_as_user())
    return loadtest.benchmark(tools, args.http, workdir, lite, keystone, apache_lite)


def cold_http_phase(tools, args, workdir, templates) -> dict:
    """Cold validation over HTTP, both products, gunicorn and (when there) Apache mod_wsgi."""
    plan = args.cold_http
    sets, apache_sets = {}, None
    with_apache = bool(tools.apache and not args.skip_apache)
    if with_apache:
        apache_sets = {}
    for target, venv, make in (("lite", tools.lite, deploy.lite_instance),
                               ("keystone", tools.keystone, deploy.keystone_instance)):
        instance = make(templates[target], os.path.join(workdir, f"coldhttp-{target}"))
        _log(f"cold HTTP: {plan['population']:,} users into {target}, then "
             f"{plan[target]['users'] * plan[target]['per_user']:,} tokens")
        working = coldhttp.working_set(venv, target, instance, plan[target]["users"],
                                       plan[target]["per_user"], plan["population"], workdir)
        sets[target] = {**working, "config": instance.config}
        if with_apache:
            copy = coldhttp.copy_instance(target, instance,
                                          os.path.join(workdir, f"coldhttp-apache-{target}"))
            servers.give_to(os.path.join(copy.directory, "data") if target == "lite"
                            else copy.directory, servers.run_as_user())
            apache_sets[target] = {**working, "config": copy.config}
    measured = coldhttp.benchmark(tools, args.http, workdir, sets, apache_sets)
    if not args.skip_memory:
        _log("cache memory: keystone_lite validates its whole working set in one process")
        out = os.path.join(workdir, "cache-memory.json")
        run_bench_script(tools.lite, "cache_memory.py", "--config", sets["lite"]["config"],
                         "--tokens", sets["lite"]["tokens"], "--caller", sets["lite"]["caller"],
                         "--per-user", str(plan["lite"]["per_user"]), "--out", out,
                         timeout=1800)
        measured["cache_memory"] = _read(out)
    return {**measured, "working_set": {target: sets[target]["count"] for target in sets},
            "population": plan["population"]}


def request_profile_phase(tools, workdir, template) -> dict:
    """py-spy on one gunicorn worker: keystone_lite's hot validation vs the trivial app."""
    lite = _with_tokens(tools.lite, "lite", deploy.lite_instance(
        template, os.path.join(workdir, "request-profile-lite")), workdir)
    result = request_profile.benchmark(tools, workdir, lite)
    tools.notes.extend(result.get("notes", []))  # why it was skipped, printed at the end
    return result


def binding_phase(tools, args, workdir, template) -> dict:
    """Validation with [cert_auth] bind_tokens on vs off, tokens earned through a certificate
    in both (bench/binding.py); ratios on/off (by wall time and by CPU time, > 1: on faster)."""
    configs = {}
    for setting in ("off", "on"):
        instance = deploy.lite_instance(template, os.path.join(workdir, f"binding-{setting}"))
        with open(instance.config, "a", encoding="utf-8") as handle:
            handle.write(f"\n[cert_auth]\nbind_tokens = {str(setting == 'on').lower()}\n")
        configs[setting] = instance.config
    out = os.path.join(workdir, "binding.json")
    run_bench_script(tools.lite, "binding.py", "--out", out, "--off", configs["off"], "--on",
                     configs["on"], "--iterations", str(args.binding_iterations), "--runs",
                     str(args.binding_runs), "--warmup", str(args.binding_warmup),
                     timeout=1800)
    measured = _read(out)
    return {"results": measured,
            "ratios": {operation: measured["on"][operation]["ops_per_s"]
                       / measured["off"][operation]["ops_per_s"]
                       for operation in measured["off"]},
            "cpu_ratios": {operation: measured["off"][operation]["cpu_ms"]
                           / measured["on"][operation]["cpu_ms"]
                           for operation in measured["off"]}}


def metrics_phase(tools, args, workdir, template) -> dict:
    """Validation with [metrics] and [audit] off vs on (multiprocess mode, an audit file: the
    issue 15 budget is for both), bench/metrics_cost.py; ratios
    on/off (by wall time and by CPU time, > 1: on faster), as binding_phase."""
    configs = {}
    for setting in ("off", "on"):
        instance = deploy.lite_instance(template, os.path.join(workdir, f"metrics-{setting}"))
        with open(instance.config, "a", encoding="utf-8") as handle:
            handle.write("\n[metrics]\nenabled = false\n[audit]\ndestination = none\n"
                         if setting == "off" else
                         "\n[metrics]\nenabled = true\nmultiprocess_dir = data/metrics\n"
                         "[audit]\ndestination = file\nfile = data/audit.jsonl\n")
        configs[setting] = instance.config
    out = os.path.join(workdir, "metrics.json")
    run_bench_script(tools.lite, "metrics_cost.py", "--out", out, "--off", configs["off"],
                     "--on", configs["on"], "--iterations", str(args.binding_iterations),
                     "--runs", str(args.binding_runs), "--warmup", str(args.binding_warmup),
                     timeout=1800)
    return on_off_ratios(_read(out))


def on_off_ratios(measured: dict) -> dict:
    return {"results": measured,
            "ratios": {operation: measured["on"][operation]["ops_per_s"]
                       / measured["off"][operation]["ops_per_s"]
                       for operation in measured["off"]},
            "cpu_ratios": {operation: measured["off"][operation]["cpu_ms"]
                           / measured["on"][operation]["cpu_ms"]
                           for operation in measured["off"]}}


def scale_phase(tools, args, workdir, template) -> dict:
    empty = deploy.lite_instance(template, os.path.join(workdir, "scale-empty"), "uuid")
    full = deploy.lite_instance(template, os.path.join(workdir, "scale-full"), "uuid")
    _log(f"generating {args.scale['tokens']:,} tokens, {args.scale['users']:,} users, "
         f"{args.scale['events']:,} revocation events")
    generated = _json_line(run_bench_script(
        tools.lite, "datagen.py", full.config, *(f"--{key}={value}"
                                                 for key, value in args.scale.items())))
    deployments = []
    for name, instance in (("empty", empty), ("full", full)):
        deployments.append(f"{name}_uuid={instance.config}")
        deployments.append(f"{name}_fernet=" + deploy.lite_config(
            instance.directory, "fernet", "fernet.conf"))
    _log("flat cost: validating on the empty and the full database")
    out = os.path.join(workdir, "scale.json")
    run_bench_script(tools.lite, "scale.py", "--out", out, "--iterations",
                     str(args.scale_iterations), "--runs", str(args.scale_runs),
                     "--warmup", str(args.scale_warmup), *deployments, timeout=1800)
    measured = _read(out)
    ratios = {provider: {operation: measured[f"empty_{provider}"][operation]["ops_per_s"]
                         / measured[f"full_{provider}"][operation]["ops_per_s"]
                         for operation in measured[f"empty_{provider}"]}
              for provider in ("uuid", "fernet")}
    cpu_ratios = {provider: {operation: measured[f"full_{provider}"][operation]["cpu_ms"]
                             / measured[f"empty_{provider}"][operation]["cpu_ms"]
                             for operation in measured[f"empty_{provider}"]}
                  for provider in ("uuid", "fernet")}
    return {"generated": generated, "results": measured, "ratios": ratios,
            "cpu_ratios": cpu_ratios}


def production_phase(tools, args, workdir, templates) -> dict:
    """Issue across distinct users, cold and mixed validation (production.py), lite and
    Keystone in turn per workload, each workload in a fresh process on one copy per target
    populated with the generated users and projects."""
    plan = args.production
    venvs = {"lite": tools.lite, "keystone": tools.keystone}
    instances = {}
    result: dict = {"lite": {}, "keystone": {}, "population": plan["population"]}
    for target, make in (("lite", deploy.lite_instance), ("keystone", deploy.keystone_instance)):
        instance = make(templates[target], os.path.join(workdir, f"production-{target}"))
        _log(f"production: {plan['population']:,} users and projects into {target}")
        script, extra = (("datagen.py", ("--tokens=0", "--events=0", "--own-projects"))
                         if target == "lite" else ("keystone_datagen.py", ()))
        result[target]["population"] = _json_line(run_bench_script(
            venvs[target], script, instance.config, f"--users={plan['population']}", *extra))
        instances[target] = instance
    for workload in ("issue", "cold", "mixed"):
        for target in ("lite", "keystone"):
            shape = plan[target]
            calls, warmup = shape[workload]
            _log(f"production: {workload}, {target}")
            out = os.path.join(workdir, f"production-{target}-{workload}.json")
            run_bench_script(
                venvs[target], "production.py", workload, "--target", target,
                "--config", instances[target].config, "--out", out,
                "--tokens", os.path.join(workdir, f"production-{target}-tokens.json"),
                "--users", str(shape["users"]), "--per-user", str(shape["per_user"]),
                "--calls", str(calls), "--runs", str(plan["runs"]), "--warmup", str(warmup),
                timeout=3600)
            result[target][workload] = _read(out)
    return result


def profile_phase(tools, workdir, template, stamp) -> dict:
    instance = deploy.lite_instance(template, os.path.join(workdir, "profile-lite"))
    out = os.path.join(workdir, "profile.json")
    text = os.path.join(RESULTS, f"{stamp}-profile.txt")
    run_bench_script(tools.lite, "profiling.py", "--config", instance.config, "--out", out,
                     "--text", text)
    return _read(out) | {"listing": os.path.relpath(text, REPO)}


def profile_text(profile: dict) -> str:
    lines = ["Where keystone_lite's time goes (cProfile; full listing in "
             f"{profile['listing']})"]
    sections = [("start-up", profile["startup"])] + list(profile["operations"].items())
    for name, summary in sections:
        sql = f", {summary['sql_per_call']:.0f} SQL statements" if "sql_per_call" in summary \
            else ""
        lines.append(f"  {name}: {summary['ms_per_call_profiled']:.2f} ms per call under the "
                     f"profiler{sql}; own time by package: " + ", ".join(
                         f"{package} {share:.0f}%" for package, share in
                         list(summary["own_time_by_package"].items())[:6]))
        for entry in summary["top_own_time"][:5]:
            lines.append(f"    {entry['own_pct']:5.1f}% own {entry['cumulative_pct']:5.1f}% cum "
                         f" {entry['function']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Deployed servers run with byte-code caches; without them every fresh process would
    # compile keystone_lite's (editable) sources and bias the start-up figures.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.monotonic()
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    os.makedirs(RESULTS, exist_ok=True)
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               "machine": machine(), "phase_seconds": {},
               "settings": {"iterations": args.iterations,
                            "revoke_iterations": args.revoke_iterations, "runs": args.runs,
                            "startup_runs": args.startup_runs,
                            "duration": args.http.duration, "warmup": args.http.warmup,
                            "connections": args.http.connections,
                            "http_runs": args.http.runs, "quick": args.quick,
                            "binding_iterations": args.binding_iterations,
                            "binding_runs": args.binding_runs}}

    def phase(name, function, *function_args):
        phase_started = time.monotonic()
        _log(f"{name} ...")
        value = function(*function_args)
        results["phase_seconds"][name] = round(time.monotonic() - phase_started, 1)
        return value

    needs_wrk = not (args.skip_http and args.skip_cold_http and args.skip_two_nodes)
    tools = phase("tools", envs.ensure, needs_wrk, not args.skip_apache)
    results["versions"] = versions(tools)
    results["notes"] = tools.notes
    workdir = tempfile.mkdtemp(prefix="keystone-lite-bench-")
    os.chmod(workdir, 0o755)  # the httpd user must reach the Apache deployment inside
    try:
        templates = phase("deployments", lambda: {
            "lite": deploy.lite_template(workdir, tools.lite),
            "keystone": deploy.keystone_template(workdir, tools.keystone)})
        lite = deploy.lite_instance(templates["lite"], os.path.join(workdir, "startup-lite"))
        keystone = deploy.keystone_instance(templates["keystone"],
                                            os.path.join(workdir, "startup-keystone"))
        if not (args.only_production or args.only_production_http):
            results["startup"] = phase("start-up", startup_phase, tools, args, lite, keystone)
            results["inprocess"] = phase("in process", inprocess_phase, tools, args, workdir,
                                         templates)
        if not args.skip_production:
            results["production"] = phase("production", production_phase, tools, args,
                                          workdir, templates)
        if tools.wrk and not args.skip_cold_http:
            results["cold_http"] = phase("cold HTTP", cold_http_phase, tools, args, workdir,
                                         templates)
        if tools.wrk and not args.skip_request_profile:
            results["request_profile"] = phase("request profile", request_profile_phase,
                                               tools, workdir, templates["lite"])
        if tools.wrk and not args.skip_two_nodes:
            results["two_nodes"] = phase("two nodes", twonode.benchmark, tools, args.http,
                                         workdir, args.two_nodes)
            tools.notes.extend(results["two_nodes"].get("notes", []))
        if not args.skip_binding:
            results["binding"] = phase("binding", binding_phase, tools, args, workdir,
                                       templates["lite"])
        if not args.skip_metrics:
            results["metrics"] = phase("metrics", metrics_phase, tools, args, workdir,
                                       templates["lite"])
        if tools.wrk and not args.skip_http:
            results["http"] = phase("HTTP", http_phase, tools, args, workdir, templates)
        if not args.skip_scale:
            results["scale"] = phase("flat cost", scale_phase, tools, args, workdir,
                                     templates["lite"])
        if not args.skip_profile:
            results["profile"] = phase("profile", profile_phase, tools, workdir,
                                       templates["lite"], stamp)
    finally:
        if args.keep:
            _log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["loadavg_after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    results["targets"] = report.targets(results)
    results["wall_seconds"] = round(time.monotonic() - started, 1)

    path = os.path.join(RESULTS, f"{stamp}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
    chart = None
    if not args.no_docs:
        os.makedirs(DOC_ASSETS, exist_ok=True)
        shutil.copyfile(path, os.path.join(DOC_ASSETS, "results.json"))
        chart = os.path.join(DOC_ASSETS, "chart.png")
        run_bench_script(tools.tools, "chart.py", path, chart)
        report.update_doc(DOC, results, chart)
    else:
        chart = os.path.join(RESULTS, f"{stamp}.png")
        run_bench_script(tools.tools, "chart.py", path, chart)

    print(report.as_text(report.tables(results)))
    if "profile" in results:
        print()
        print(profile_text(results["profile"]))
    for note in results["notes"]:
        print(f"note: {note}")
    print(f"\nresults: {os.path.relpath(path, REPO)}; chart: {os.path.relpath(chart, REPO)}; "
          f"phases (s): {results['phase_seconds']}; total {results['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
