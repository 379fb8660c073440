"""Where a gunicorn worker's time goes per HTTP validation: keystone_lite vs the trivial app.

py-spy (in its own venv, ``bench/.venv-profile``) samples one gunicorn sync worker while wrk
sends it the hot validation of the HTTP phase (``wrk/bench.lua``, the same headers), and then
the trivial app the same way. Samples are folded per function (lines merged); each function's
share counts the samples with it on the stack (inclusive) among the samples in which the worker
was not idle in ``select``. For keystone_lite the paste pipeline is split into its layers: a
layer's own share is its inclusive share minus the next layer's. Each profile also reports the
unprofiled rate of the worker it sampled, so the shares can be turned into microseconds.

Needs ptrace (root, or ``kernel.yama.ptrace_scope`` 0): without it the phase is skipped with a
note, as when py-spy cannot be installed.
"""
from __future__ import annotations

import collections
import os
import re
import subprocess

import envs
import loadtest
import servers
from processes import REPO, CommandFailed, run

VENV_PROFILE = os.path.join(envs.BENCH, ".venv-profile")
PY_SPY = "py-spy==0.4.3"
SAMPLE_RATE = 250
IDLE = ("SyncWorker.wait (gunicorn/workers/sync.py)",)

# keystone_lite's admin pipeline, outermost first (etc/keystone-lite-paste.ini).
LAYERS = (("request_id", "RequestIdMiddleware.__call__"),
          ("sizelimit", "SizeLimitMiddleware.__call__"),
          ("catch_errors", "CatchErrorsMiddleware.__call__"),
          ("urlmap (paste)", "URLMap.__call__"),
          ("cert_auth", "CertAuthMiddleware.__call__"),
          ("token_auth", "TokenAuthMiddleware.__call__"),
          ("json_body", "JsonBodyMiddleware.__call__"),
          ("router, controller, response", "Router.__call__"))
# Parts inside the layers worth naming: (label, function).
PARTS = (("stamp: change counter read + key repository stat", "TokenService.stamp"),
         ("  of which the counter's SELECT", "CounterReader.read"),
         ("subject token lookup (cached)", "TokenController.subject_token"),
         ("policy check", "enforce"),
         ("response object (webob) and JSON", "json_response"),
         ("request id (uuid4)", "uuid4"),
         ("gunicorn: parse request", "Parser.__next__"),
         ("gunicorn: socket writes", "write"),
         ("gunicorn: environ", "create"),
         ("gunicorn: close, accept", "close"))


def ensure(notes: list[str]) -> str | None:
    """py-spy in its own venv, or None (with a note) when it cannot be had."""
    try:
        venv = envs.ensure_venv(VENV_PROFILE, [PY_SPY])
    except CommandFailed as failure:
        notes.append(f"py-spy could not be installed: {str(failure)[-200:]}")
        return None
    return os.path.join(venv, "bin", "py-spy")


def fold(raw: str) -> tuple[collections.Counter, int]:
    """py-spy's raw output -> (inclusive samples per function, busy samples)."""
    inclusive: collections.Counter = collections.Counter()
    busy = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        if frames[-1] in IDLE:
            continue
        busy += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    return inclusive, busy


def _share(inclusive, busy: int, function: str) -> float:
    """Inclusive share (%) of the busiest function called ``function`` (any module)."""
    matches = [count for frame, count in inclusive.items()
               if frame.split(" (", 1)[0] == function]
    return 100 * max(matches, default=0) / busy if busy else 0.0


def _profile(py_spy: str, tools, server, url: str, headers: dict, seconds: int,
             out: str) -> tuple[collections.Counter, int, float]:
    """Warm up, measure the unprofiled rate, then sample the single worker under load."""
    loadtest._check(url, headers)
    loadtest.wrk(tools, url, 1, 2, headers)
    rate = loadtest.wrk(tools, url, seconds, 2, headers)["req_per_s"]
    pid = server.worker_pids()[0]
    spy = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(seconds),
                            "--rate", str(SAMPLE_RATE), "--nonblocking", "--format", "raw",
                            "--output", out], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        loadtest.wrk(tools, url, seconds, 2, headers)
        _, error = spy.communicate(timeout=seconds + 60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(10)
    if spy.returncode != 0 or not os.path.exists(out):
        raise CommandFailed(f"py-spy record exited {spy.returncode}: {error[-300:]}")
    with open(out, encoding="utf-8") as handle:
        inclusive, busy = fold(handle.read())
    return inclusive, busy, rate


def benchmark(tools, workdir: str, lite: dict, seconds: int = 6) -> dict:
    """``lite``: {"config", "caller", "subject"} of a keystone_lite instance."""
    notes: list[str] = []
    py_spy = ensure(notes)
    if py_spy is None:
        return {"notes": notes}
    try:
        run([py_spy, "--version"], 60)
    except CommandFailed as failure:
        return {"notes": [f"py-spy does not run: {str(failure)[-200:]}"]}
    headers = {"X-Auth-Token": lite["caller"], "X-Subject-Token": lite["subject"]}
    result = {}
    for name, venv, directory, app, env, path, request_headers in (
            ("trivial", tools.lite, servers.APPS, "trivial:application", {}, "/", {}),
            ("lite", tools.lite, os.path.join(REPO, "httpd"), "httpdadmin:application",
             {"KEYSTONE_LITE_CONFIG": lite["config"]}, loadtest.TOKENS_PATH, headers)):
        loadtest._progress(f"request profile: py-spy on a gunicorn worker of {name}")
        with servers.Gunicorn(venv, directory, app, env, workdir, workers=1) as server:
            try:
                inclusive, busy, rate = _profile(
                    py_spy, tools, server, server.base_url(path), request_headers, seconds,
                    os.path.join(workdir, f"py-spy-{name}.txt"))
            except CommandFailed as failure:
                return {"notes": [f"py-spy could not sample the worker: {failure}"]}
        figures = {"req_per_s": rate, "busy_samples": busy,
                   "us_per_request": 1e6 / rate if rate else None}
        if name == "lite":
            app_share = _share(inclusive, busy, LAYERS[0][1])
            layers = []
            for index, (label, function) in enumerate(LAYERS):
                inner = (_share(inclusive, busy, LAYERS[index + 1][1])
                         if index + 1 < len(LAYERS) else 0.0)
                layers.append({"layer": label,
                               "own_pct": _share(inclusive, busy, function) - inner})
            figures.update({"app_pct": app_share, "layers": layers,
                            "parts": [{"part": label,
                                       "pct": _share(inclusive, busy, function)}
                                      for label, function in PARTS]})
        else:
            figures["app_pct"] = _share(inclusive, busy, "application")
            figures["parts"] = [{"part": label, "pct": _share(inclusive, busy, function)}
                                for label, function in PARTS if label.startswith("gunicorn")]
        result[name] = figures
    trivial, lite_figures = result["trivial"], result["lite"]
    if trivial["req_per_s"] and lite_figures["req_per_s"]:
        result["ratio"] = lite_figures["req_per_s"] / trivial["req_per_s"]
        # Worker time per request beyond the trivial app's, and the app's own part of it.
        result["extra_us"] = lite_figures["us_per_request"] - trivial["us_per_request"]
        result["app_us"] = lite_figures["us_per_request"] * lite_figures["app_pct"] / 100
    return result
