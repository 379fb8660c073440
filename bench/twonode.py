"""Two keystone_lite nodes on one PostgreSQL: aggregate cold validation, and how soon a
revocation on one node is seen on the other under load.

The nodes are two gunicorn processes (one sync worker each, so one keystone_lite process per
node) with the same configuration: one PostgreSQL database (``[database] connection``), one
Fernet key repository. The database is created afresh for the run (``createdb`` as the
``postgres`` user; by default ``klbench`` owned by role ``kl``, never the tests' database),
bootstrapped with ``keystone-lite-manage``, populated with ``datagen.py --own-projects``, and
given a working set by ``production.py issue`` (10 tokens per user), as the other cold rows.

- **cold validation**: per run both nodes start afresh; wrk walks a slice of the working set on
  node A alone (one process: the reference), then on both nodes at once, each node its own
  slice (``wrk/cold.lua``, every token once); the aggregate is the sum of both rates.
- **revocation seen on the other node**: both nodes under validation load (wrk, hot token, on
  each), a probe validates a fresh token on B (200: B has it cached), revokes it on A (DELETE,
  204) and validates it on B again and again until B answers 404. Per probe: the time from A's
  204 to B's 404 and how many 200s B gave in between (0 means the very next request saw it);
  for scale, the median time of one validation on B under the same load (the probe's first).
"""
from __future__ import annotations

import contextlib
import http.client
import os
import statistics
import subprocess
import threading
import time

import coldhttp
import deploy
import loadtest
import servers
from processes import HOST, REPO, CommandFailed, peak_rss_mib, run

DATABASE = "klbench"
ROLE_URL = "postgresql+psycopg://kl:kl@127.0.0.1:5432"
REQUEST_TIMEOUT = 10
PROPAGATION_TIMEOUT = 10


def _postgres(*command: str) -> None:
    """A PostgreSQL client command as the ``postgres`` user (root can switch to it)."""
    run(["su", "postgres", "-c", " ".join(command)], 120)


def create_database(name: str = DATABASE, owner: str = "kl") -> str:
    """Drop and create ``name`` (a throw-away benchmark database); returns its URL."""
    _postgres("dropdb", "--if-exists", "--force", name)
    _postgres("createdb", "-O", owner, name)
    return f"{ROLE_URL}/{name}"


def deployment(venv: str, directory: str, url: str) -> deploy.Instance:
    """keystone_lite on ``url``, set up with its own CLI as ``deploy.lite_template`` does."""
    os.makedirs(directory)
    config = os.path.join(directory, "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\ndata_dir = data\n\n[database]\nconnection = {url}\n\n"
                     "[token]\nprovider = fernet\n")
    manage = os.path.join(venv, "bin", "keystone-lite-manage")
    for argv in (["db_sync"], ["fernet_setup"],
                 ["bootstrap", "--bootstrap-public-url", deploy.CATALOG_URL,
                  "--bootstrap-internal-url", deploy.CATALOG_URL, "--bootstrap-admin-url",
                  deploy.CATALOG_URL],
                 ["user", "create", "alice", "--project", "demo", "--role", "member"]):
        run([manage, "--config-file", config, *argv], deploy.SETUP_TIMEOUT)
    return deploy.Instance(directory, config)


def _slices(path: str, count: int, workdir: str) -> list[str]:
    with open(path, encoding="ascii") as handle:
        tokens = handle.read().split()
    size = len(tokens) // count
    paths = []
    for number in range(count):
        slice_path = os.path.join(workdir, f"twonode-slice-{number}.txt")
        with open(slice_path, "w", encoding="ascii") as handle:
            handle.write("\n".join(tokens[number * size:(number + 1) * size]) + "\n")
        paths.append(slice_path)
    return paths


def _node(tools, config: str, workdir: str) -> servers.Gunicorn:
    return servers.Gunicorn(tools.lite, os.path.join(REPO, "httpd"), "httpdadmin:application",
                            {"KEYSTONE_LITE_CONFIG": config}, workdir, workers=1)


def _cold_together(tools, settings, urls_and_slices, caller: str) -> list[dict]:
    """wrk (cold) on every (url, slice) at once; each one's figures."""
    results: list = [None] * len(urls_and_slices)
    failures: list = []

    def one(index, url, tokens):
        try:
            results[index] = coldhttp.wrk_cold(tools, url, settings.duration,
                                               settings.connections, tokens, caller)
        except Exception as failure:  # noqa: BLE001 - re-raised below, in the caller
            failures.append(failure)

    threads = [threading.Thread(target=one, args=(index, url, tokens))
               for index, (url, tokens) in enumerate(urls_and_slices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def cold(tools, settings: loadtest.Settings, workdir: str, config: str, working: dict) -> dict:
    """``settings.runs`` runs of node A alone, then A and B together, fresh nodes each run."""
    slices = _slices(working["tokens"], 3, workdir)
    hot = {"X-Auth-Token": working["caller"], "X-Subject-Token": working["subject"]}
    runs = []
    for number in range(settings.runs):
        loadtest._progress(f"two nodes, cold run {number + 1}/{settings.runs}")
        with _node(tools, config, workdir) as a, _node(tools, config, workdir) as b:
            url_a = a.base_url(loadtest.TOKENS_PATH)
            url_b = b.base_url(loadtest.TOKENS_PATH)
            for url in (url_a, url_b):
                loadtest._check(url, hot)
                loadtest.wrk(tools, url, settings.warmup, settings.connections, hot)
            single = _cold_together(tools, settings, [(url_a, slices[0])], working["caller"])
            both = _cold_together(tools, settings, [(url_a, slices[1]), (url_b, slices[2])],
                                  working["caller"])
            rss = [value for value in map(peak_rss_mib, a.worker_pids() + b.worker_pids())
                   if value is not None]
        runs.append({"single_req_per_s": single[0]["req_per_s"],
                     "node_a_req_per_s": both[0]["req_per_s"],
                     "node_b_req_per_s": both[1]["req_per_s"],
                     "aggregate_req_per_s": both[0]["req_per_s"] + both[1]["req_per_s"],
                     "p50_ms": statistics.median([both[0]["p50_ms"], both[1]["p50_ms"]]),
                     "p99_ms": max(both[0]["p99_ms"], both[1]["p99_ms"]),
                     "peak_rss_mib": max(rss) if rss else None})
    summary = {key: statistics.median(run[key] for run in runs)
               for key in ("single_req_per_s", "aggregate_req_per_s", "node_a_req_per_s",
                           "node_b_req_per_s", "p50_ms", "p99_ms")}
    summary["scaling"] = summary["aggregate_req_per_s"] / summary["single_req_per_s"]
    summary["runs"] = runs
    return summary


def _request(port: int, method: str, caller: str, subject: str) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, loadtest.TOKENS_PATH, headers={
            "X-Auth-Token": caller, "X-Subject-Token": subject})
        reply = connection.getresponse()
        reply.read()
        return reply.status
    finally:
        connection.close()


def _expect(status: int, wanted: int, what: str) -> None:
    if status != wanted:
        raise CommandFailed(f"two nodes: {what} answered {status}, expected {wanted}")


def propagation(tools, settings: loadtest.Settings, workdir: str, config: str, working: dict,
                probes: list[str]) -> dict:
    """Revoke on A, poll B until 404, once per token of ``probes``, under hot load on both."""
    caller = working["caller"]
    hot = {"X-Auth-Token": caller, "X-Subject-Token": working["subject"]}
    latencies, stale, polls, one_request = [], [], [], []
    with _node(tools, config, workdir) as a, _node(tools, config, workdir) as b:
        loads = []
        duration = max(30, len(probes))  # outlasts the probes; stopped when they are done
        for node in (a, b):
            loadtest._check(node.base_url(loadtest.TOKENS_PATH), hot)
            loads.append(subprocess.Popen(
                [tools.wrk, "-t1", f"-c{settings.connections}", f"-d{duration}s", "-s",
                 loadtest.LUA, node.base_url(loadtest.TOKENS_PATH), "--",
                 *(f"{name}={value}" for name, value in hot.items())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        try:
            time.sleep(1)
            for token in probes:
                started = time.perf_counter()
                _expect(_request(b.port, "GET", caller, token), 200, "B, before the revocation")
                one_request.append((time.perf_counter() - started) * 1000)
                _expect(_request(a.port, "DELETE", caller, token), 204, "A, the revocation")
                revoked = time.perf_counter()
                answers = 0
                while True:
                    status = _request(b.port, "GET", caller, token)
                    answers += 1
                    if status == 404:
                        break
                    _expect(status, 200, "B, after the revocation")
                    if time.perf_counter() - revoked > PROPAGATION_TIMEOUT:
                        raise CommandFailed(f"two nodes: B still validates a token revoked "
                                            f"on A {PROPAGATION_TIMEOUT} s ago")
                latencies.append((time.perf_counter() - revoked) * 1000)
                stale.append(answers - 1)
                polls.append(answers)
        finally:
            for load in loads:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(load.pid, 15)
                load.wait(10)
    ordered = sorted(latencies)
    return {"probes": len(probes), "p50_ms": statistics.median(ordered),
            "p90_ms": ordered[int(0.9 * (len(ordered) - 1))], "max_ms": ordered[-1],
            "stale_answers": sum(stale), "probes_with_stale_answers": sum(1 for s in stale if s),
            "one_request_p50_ms": statistics.median(one_request), "latencies_ms": latencies}


def benchmark(tools, settings: loadtest.Settings, workdir: str, plan: dict) -> dict:
    try:
        url = create_database(plan.get("database", DATABASE))
    except CommandFailed as failure:
        return {"notes": ["two nodes skipped: no PostgreSQL database could be created "
                          f"(needs root, a local PostgreSQL and role kl): {str(failure)[-200:]}"]}
    instance = deployment(tools.lite, os.path.join(workdir, "twonode"), url)
    loadtest._progress(f"two nodes: {plan['population']:,} users into PostgreSQL, then "
                       f"{plan['users'] * plan['per_user']:,} tokens")
    working = coldhttp.working_set(tools.lite, "lite", instance, plan["users"],
                                   plan["per_user"], plan["population"], workdir)
    with open(working["tokens"], encoding="ascii") as handle:
        tokens = handle.read().split()
    # The probes: the last tokens of the working set, kept out of the cold slices.
    probes = tokens[-plan["probes"]:]
    working["tokens"] = os.path.join(workdir, "twonode-cold-tokens.txt")
    with open(working["tokens"], "w", encoding="ascii") as handle:
        handle.write("\n".join(tokens[:-plan["probes"]]) + "\n")
    cold_figures = cold(tools, settings, workdir, instance.config, working)
    loadtest._progress(f"two nodes: {len(probes)} revocations on A, seen on B")
    seen = propagation(tools, settings, workdir, instance.config, working, probes)
    return {"database": "PostgreSQL", "working_set": working["count"],
            "population": plan["population"], "cold": cold_figures, "revocation": seen}
