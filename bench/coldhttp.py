"""Cold validation over HTTP: every request validates a token the server has not seen.

Services cache what they validated (keystonemiddleware, 5 minutes), so an identity service
mostly validates tokens it has not seen yet. Each product gets a deployment populated as for
``production.py`` (``datagen.py --own-projects`` / ``keystone_datagen.py``) and a working set
issued by ``production.py issue`` (10 tokens per user); wrk then walks that working set with
``wrk/cold.lua``, one token per request, under gunicorn (2 sync workers) and Apache mod_wsgi
(daemon mode, 2 processes x 1 thread), both products on both servers.

Every run starts its servers afresh (their caches are empty, so a working set can serve every
run), warms them up on one hot token, measures, and reads each worker's peak RSS (after the
cold load: what the caches grew to). A run that ran out of tokens (and so validated one twice)
or saw any non-2xx answer is an error, not a figure. Runs go round-robin over products and
servers; medians are reported.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics

import deploy
import loadtest
import servers
from processes import BENCH, REPO, CommandFailed, peak_rss_mib, run, run_bench_script

COLD_LUA = os.path.join(BENCH, "wrk", "cold.lua")
APPS = {"lite": os.path.join(REPO, "httpd", "httpdadmin.py"),
        "keystone": os.path.join(servers.APPS, "keystone_wsgi.py")}
GUNICORN_APPS = {"lite": (os.path.join(REPO, "httpd"), "httpdadmin:application"),
                 "keystone": (servers.APPS, "keystone_wsgi:application")}


def _json_line(output: str) -> dict:
    line = next(line for line in reversed(output.splitlines()) if line.startswith("BENCH_JSON "))
    return json.loads(line.split(" ", 1)[1])


def config_env(target: str, config: str) -> dict:
    return ({"KEYSTONE_LITE_CONFIG": config} if target == "lite"
            else {"OS_KEYSTONE_CONFIG_FILES": config})


def working_set(venv: str, target: str, instance: deploy.Instance, users: int, per_user: int,
                population: int, workdir: str) -> dict:
    """Populate ``instance`` with ``population`` users (a project each), issue ``per_user``
    tokens for each of the first ``users`` of them (``production.py issue``), and a caller
    (admin) and a hot subject token (``inproc.py --tokens``). Returns {"tokens": path of a file
    of one token a line, "count", "caller", "subject", "issue": the issue figures}."""
    script, extra = (("datagen.py", ("--tokens=0", "--events=0", "--own-projects"))
                     if target == "lite" else ("keystone_datagen.py", ()))
    run_bench_script(venv, script, instance.config, f"--users={population}", *extra,
                     timeout=1800)
    issued = os.path.join(workdir, f"{target}-{os.path.basename(instance.directory)}.json")
    figures = os.path.join(workdir, f"{target}-issue-figures.json")
    run_bench_script(venv, "production.py", "issue", "--target", target, "--config",
                     instance.config, "--out", figures, "--tokens", issued, "--users",
                     str(users), "--per-user", str(per_user), "--calls", "1", "--runs", "1",
                     "--warmup", "0", timeout=3600)
    with open(issued, encoding="utf-8") as handle:
        tokens = [token for _number, token in json.load(handle)]
    path = os.path.join(workdir, f"{target}-cold-tokens.txt")
    with open(path, "w", encoding="ascii") as handle:
        handle.write("\n".join(tokens) + "\n")
    out = os.path.join(workdir, f"{target}-caller.json")
    run_bench_script(venv, "inproc.py", "--target", target, "--config", instance.config,
                     "--out", out, "--tokens")
    with open(out, encoding="utf-8") as handle:
        hot = json.load(handle)
    return {"tokens": path, "count": len(tokens), **hot}


def copy_instance(target: str, instance: deploy.Instance, destination: str) -> deploy.Instance:
    """A copy of a populated deployment (keys included), for another server's user."""
    shutil.copytree(instance.directory, destination)
    if target == "lite":
        return deploy.Instance(destination, os.path.join(destination,
                                                         os.path.basename(instance.config)))
    config = deploy.keystone_config(destination)
    # Keystone's receipt keys default to /etc/keystone/fernet-keys, which httpd's user cannot
    # read (as root, under gunicorn, Keystone can); the token keys serve as well.
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(f"\n[fernet_receipts]\nkey_repository = {destination}/fernet-keys\n")
    return deploy.Instance(destination, config)


def wrk_cold(tools, url: str, duration: int, connections: int, tokens: str,
             caller: str) -> dict:
    """One wrk run walking the token file; req/s, p50/p99 ms. Errors and reuse fail it."""
    output = run([tools.wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                  "-s", COLD_LUA, url, "--", f"TOKENS={tokens}", f"X-Auth-Token={caller}"],
                 duration + 120)
    raw = _json_line(output)
    errors = {key: raw[key] for key in ("non_2xx_3xx", "connect_errors", "read_errors",
                                        "write_errors", "timeouts", "wrapped")}
    if any(errors.values()) or not raw["requests"]:
        raise CommandFailed(f"wrk (cold) {url}: errors {errors} in {raw['requests']} requests")
    return {"req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
            "requests": raw["requests"], "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000}


def measure(tools, settings: loadtest.Settings, url: str, sets: dict, pids) -> dict:
    headers = {"X-Auth-Token": sets["caller"], "X-Subject-Token": sets["subject"]}
    loadtest._check(url, headers)
    loadtest.wrk(tools, url, settings.warmup, settings.connections, headers)
    figures = wrk_cold(tools, url, settings.duration, settings.connections, sets["tokens"],
                       sets["caller"])
    rss = [value for value in map(peak_rss_mib, pids()) if value is not None]
    figures["peak_rss_mib"] = max(rss) if rss else None
    figures["workers"] = len(rss)
    return figures


def summarise(runs: list[dict]) -> dict:
    summary = {key: statistics.median(run[key] for run in runs)
               for key in ("req_per_s", "p50_ms", "p99_ms")}
    rss = [run["peak_rss_mib"] for run in runs if run["peak_rss_mib"] is not None]
    summary["peak_rss_mib"] = statistics.median(rss) if rss else None
    summary["runs"] = runs
    return summary


def benchmark(tools, settings: loadtest.Settings, workdir: str, sets: dict,
              apache_sets: dict | None) -> dict:
    """``sets``/``apache_sets``: {target: working set (``working_set``) + "config"}, the
    latter on copies owned by httpd's user. Returns {"gunicorn": {target: summary},
    "apache": {target: summary}}."""
    venvs = {"lite": tools.lite, "keystone": tools.keystone}
    results: dict = {"gunicorn": {target: [] for target in sets}, "apache": {}}
    if apache_sets is not None:
        results["apache"] = {target: [] for target in apache_sets}
    for number in range(settings.runs):
        for target, working in sets.items():
            loadtest._progress(f"cold HTTP run {number + 1}/{settings.runs}: gunicorn {target}")
            directory, app = GUNICORN_APPS[target]
            with servers.Gunicorn(venvs[target], directory, app,
                                  config_env(target, working["config"]), workdir) as server:
                results["gunicorn"][target].append(measure(
                    tools, settings, server.base_url(loadtest.TOKENS_PATH), working,
                    server.worker_pids))
        if apache_sets is None:
            continue
        loadtest._progress(f"cold HTTP run {number + 1}/{settings.runs}: Apache mod_wsgi")
        mounts = {f"/{target}": APPS[target] for target in apache_sets}
        env = {}
        for target, working in apache_sets.items():
            env.update(config_env(target, working["config"]))
        with servers.Apache(tools, tools.lite, mounts, env, workdir,
                            venvs={f"/{target}": venvs[target]
                                   for target in apache_sets}) as server:
            for target, working in apache_sets.items():
                mount = f"/{target}"
                results["apache"][target].append(measure(
                    tools, settings, server.base_url(mount + loadtest.TOKENS_PATH), working,
                    lambda mount=mount: server.worker_pids(mount)))
    return {server: {target: summarise(runs) for target, runs in apps.items()}
            for server, apps in results.items()}
