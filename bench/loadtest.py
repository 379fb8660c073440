"""HTTP benchmark: wrk against the apps under the same servers, on 127.0.0.1.

Every run starts the servers afresh (so peak RSS is per run), warms them up, measures, reads
each worker's peak RSS and stops them. Runs go round-robin over the configurations, so drift on
these shared cores spreads over all of them. A run with any non-2xx answer or socket error is an
error, not a figure.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import sys
import urllib.request

import servers
from processes import BENCH, REPO, CommandFailed, peak_rss_mib, run

LUA = os.path.join(BENCH, "wrk", "bench.lua")
TOKENS_PATH = "/v3/auth/tokens"


@dataclasses.dataclass
class Settings:
    duration: int = 5
    warmup: int = 2
    connections: int = 4
    runs: int = 3


def wrk(tools, url: str, duration: int, connections: int, headers: dict) -> dict:
    """One wrk run (1 thread); returns req/s, p50/p99 in ms and the error counts."""
    output = run([tools.wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
                  "-s", LUA, url, "--", *(f"{name}={value}" for name, value in headers.items())],
                 duration + 60)
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line.split(" ", 1)[1])
    errors = {key: raw[key] for key in ("non_2xx_3xx", "connect_errors", "read_errors",
                                        "write_errors", "timeouts")}
    if any(errors.values()) or not raw["requests"]:
        raise CommandFailed(f"wrk {url}: errors {errors} in {raw['requests']} requests")
    return {"req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000}


def _check(url: str, headers: dict) -> None:
    """One request by hand: a 200, or a clear failure before wrk hides it in a count."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as reply:
            status = reply.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != 200:
        raise CommandFailed(f"GET {url}: {status}, expected 200")


def _measure(tools, settings: Settings, url: str, headers: dict, pids) -> dict:
    _check(url, headers)
    wrk(tools, url, settings.warmup, settings.connections, headers)
    figures = wrk(tools, url, settings.duration, settings.connections, headers)
    rss = [value for value in map(peak_rss_mib, pids()) if value is not None]
    figures["peak_rss_mib"] = max(rss) if rss else None
    figures["workers"] = len(rss)
    return figures


def _summarise(runs: list[dict]) -> dict:
    summary = {key: statistics.median(run[key] for run in runs)
               for key in ("req_per_s", "p50_ms", "p99_ms")}
    rss = [run["peak_rss_mib"] for run in runs if run["peak_rss_mib"] is not None]
    summary["peak_rss_mib"] = statistics.median(rss) if rss else None
    summary["runs"] = runs
    return summary


def benchmark(tools, settings: Settings, workdir: str, lite: dict, keystone: dict,
              apache_lite: dict | None) -> dict:
    """``lite``/``keystone``: {"config", "caller", "subject"} of an instance for each server.

    Returns {"gunicorn": {app: summary}, "apache": {app: summary}} for the apps trivial, lite
    and keystone (Apache: trivial and lite).
    """
    def validation(tokens):
        return {"X-Auth-Token": tokens["caller"], "X-Subject-Token": tokens["subject"]}

    gunicorn = {
        "trivial": (tools.lite, servers.APPS, "trivial:application", {}, "/", {}),
        "lite": (tools.lite, os.path.join(REPO, "httpd"), "httpdadmin:application",
                 {"KEYSTONE_LITE_CONFIG": lite["config"]}, TOKENS_PATH, validation(lite)),
        "keystone": (tools.keystone, servers.APPS, "keystone_wsgi:application",
                     {"OS_KEYSTONE_CONFIG_FILES": keystone["config"]}, TOKENS_PATH,
                     validation(keystone)),
    }
    results: dict = {"gunicorn": {name: [] for name in gunicorn}, "apache": {}}
    if apache_lite is not None:
        results["apache"] = {"trivial": [], "lite": []}
    for number in range(settings.runs):
        for name, (venv, directory, app, env, path, headers) in gunicorn.items():
            _progress(f"HTTP run {number + 1}/{settings.runs}: gunicorn {name}")
            with servers.Gunicorn(venv, directory, app, env, workdir) as server:
                results["gunicorn"][name].append(_measure(
                    tools, settings, server.base_url(path), headers, server.worker_pids))
        if apache_lite is not None:
            _progress(f"HTTP run {number + 1}/{settings.runs}: Apache mod_wsgi")
            mounts = {"/trivial": os.path.join(servers.APPS, "trivial.py"),
                      "/admin": os.path.join(REPO, "httpd", "httpdadmin.py")}
            with servers.Apache(tools, tools.lite, mounts,
                                {"KEYSTONE_LITE_CONFIG": apache_lite["config"]},
                                workdir) as server:
                for name, mount, path, headers in (
                        ("trivial", "/trivial", "/", {}),
                        ("lite", "/admin", TOKENS_PATH, validation(apache_lite))):
                    results["apache"][name].append(_measure(
                        tools, settings, server.base_url(mount + path), headers,
                        lambda mount=mount: server.worker_pids(mount)))
    return {server: {name: _summarise(runs) for name, runs in apps.items()}
            for server, apps in results.items()}


def _progress(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"bench: {message}", file=sys.stderr, flush=True)
