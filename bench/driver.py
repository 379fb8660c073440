"""The in-process driver shared by every target: WSGI calls and the timing loop.

Standard library only, so that the same file drives keystone_lite and Keystone from their own
virtualenvs. Every call checks its status: a benchmark of error responses measures nothing.
"""
from __future__ import annotations

import dataclasses
import io
import json
import statistics
import time


class UnexpectedStatus(AssertionError):
    """A benchmarked call answered something other than what the operation expects."""


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def environ_for(method: str, path: str, headers: dict | None = None, body: bytes = b"",
                extra: dict | None = None) -> dict:
    """A WSGI environ as a server on 127.0.0.1:80 would build it (SCRIPT_NAME empty)."""
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra or {})
    return environ


def call(app, method: str, path: str, headers: dict | None = None, document=None,
         extra: dict | None = None, expect: int | None = None) -> Reply:
    """One request through ``app``; raises UnexpectedStatus when ``expect`` is not met."""
    body = json.dumps(document).encode() if document is not None else b""
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = {name.lower(): value for name, value in response_headers}
        return lambda data: None

    result = app(environ_for(method, path, headers, body, extra), start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    reply = Reply(started["status"], started["headers"], content)
    if expect is not None and reply.status != expect:
        raise UnexpectedStatus(f"{method} {path}: {reply.status}, expected {expect}: "
                               f"{content[:300]!r}")
    return reply


class Operation:
    """One benchmarked call; ``prepare(n)`` (untimed) readies the next ``n`` calls."""

    def prepare(self, count: int) -> None:
        """Nothing to prepare by default."""

    def __call__(self) -> None:
        raise NotImplementedError


def measure(operation: Operation, iterations: int, runs: int, warmup: int) -> dict:
    """Warm up, then ``runs`` runs of ``iterations`` calls, single thread.

    Returns the median over runs of ops/s, p50 and p99 (ms) and CPU ms per call (the process's
    CPU time, steadier than wall time when other work shares the cores), and each run's figures.
    """
    operation.prepare(warmup)
    for _ in range(warmup):
        operation()
    per_run = []
    for _ in range(runs):
        operation.prepare(iterations)
        latencies = []
        clock = time.perf_counter_ns
        cpu_started = time.process_time()
        run_started = clock()
        for _ in range(iterations):
            started = clock()
            operation()
            latencies.append(clock() - started)
        elapsed = (clock() - run_started) / 1e9
        cpu = time.process_time() - cpu_started
        per_run.append({"ops_per_s": iterations / elapsed,
                        "cpu_ms": cpu * 1000 / iterations,
                        "p50_ms": percentile(latencies, 50) / 1e6,
                        "p99_ms": percentile(latencies, 99) / 1e6})
    return {key: statistics.median(run[key] for run in per_run)
            for key in ("ops_per_s", "p50_ms", "p99_ms", "cpu_ms")} | {
        "iterations": iterations, "runs": per_run}


def measure_interleaved(benchmarked: dict, iterations: int, runs: int, warmup: int,
                        later_warmup: int = 20, before=None) -> dict:
    """``{name: {operation_name: Operation}}`` measured one name after another, ``runs``
    times, so that noise on shared cores hits every name alike (``before(name)`` runs ahead
    of each name's turn). Returns ``{name: {operation_name: medians}}`` of ops/s, p50, p99
    and CPU ms per call over the runs."""
    measured = {name: {operation: [] for operation in ops} for name, ops in benchmarked.items()}
    for number in range(runs):
        for name, ops in benchmarked.items():
            if before is not None:
                before(name)
            for operation_name, operation in ops.items():
                measured[name][operation_name].extend(measure(
                    operation, iterations, 1, warmup if number == 0 else later_warmup)["runs"])
    return {name: {operation: {key: statistics.median(run[key] for run in each)
                               for key in ("ops_per_s", "p50_ms", "p99_ms", "cpu_ms")}
                   for operation, each in ops.items()}
            for name, ops in measured.items()}


def percentile(values: list, percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
