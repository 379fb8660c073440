"""The embedded server's operations listener and the start-up reports of ``keystone-lite``.

``serve --health-port`` answers GET /healthcheck over plain HTTP with no client certificate (a
load balancer's probe) and GET /metrics (Prometheus), 404 for anything else, while the TLS port still demands a certificate.
``quickstart`` reports a busy port before setting anything up, lets clients without a
certificate in with ``--verify-client optional``, and prints where keystone-lite-manage is.
Real processes, the real curl binary, 127.0.0.1 only; every process is stopped in a finally.
"""
from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from keystone_lite.cli import manage

from builders import LOOPBACK as HOST, Reply, free_port, parse_http

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

START_TIMEOUT = 30
STOP_TIMEOUT = 15
KEYSTONE_LITE = os.path.join(os.path.dirname(sys.executable), "keystone-lite")


def curl(url: str, *options: str) -> Reply:
    result = subprocess.run(["curl", "-q", "-sS", "-i", "--noproxy", "*", "--max-time", "10",
                             *options, url], capture_output=True, timeout=20)
    return Reply(result.returncode, *parse_http(result.stdout), result.stderr.decode())


def two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


def write_config(directory, database_url) -> str:
    config = directory / "keystone-lite.conf"
    config.write_text("[DEFAULT]\ndata_dir = data\n"
                      + (f"\n[database]\nconnection = {database_url}\n" if database_url else ""))
    return str(config)


@contextlib.contextmanager
def started(argv: list[str], env: dict, until: str):
    """Run ``keystone-lite ARGV`` until it prints a line starting with ``until``; yields all it
    printed so far; SIGINT at the end, which must stop it cleanly."""
    process = subprocess.Popen([KEYSTONE_LITE, *argv], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                              daemon=True)
    reader.start()
    output = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not output or not output[-1].startswith(until):
            try:
                output.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                pytest.fail(f"no line starting with {until!r}:\n" + "".join(output))
        yield "".join(output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            status = process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
        process.stdout.close()
    assert status == 0, "".join(output)


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_backend):
    """``keystone-lite serve --health-port`` for a bootstrapped installation with a dev PKI:
    (https base, health base, data directory, CA file)."""
    directory = tmp_path_factory.mktemp("ops")
    config = write_config(directory, database_backend.create())
    for argv in (["db_sync"], ["fernet_setup"], ["bootstrap"], ["pki", "setup"]):
        assert manage.main(["--config-file", config, *argv]) == 0
    port, health_port = two_free_ports()
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": config}
    with started(["serve", "--port", str(port), "--health-port", str(health_port)], env,
                 "Ctrl-C stops") as output:
        assert f"http://127.0.0.1:{health_port}/healthcheck" in output
        data = str(directory / "data")
        yield (f"https://{HOST}:{port}", f"http://{HOST}:{health_port}", data,
               os.path.join(data, "pki", "ca.crt"))


def test_health_listener_answers_ok_over_plain_http_without_a_certificate(served):
    _, health, _, _ = served
    reply = curl(f"{health}/healthcheck")

    assert (reply.exit_code, reply.status, reply.body) == (0, 200, b"OK"), reply
    assert reply.headers["content-type"] == "text/plain; charset=UTF-8"


def test_health_listener_answers_json_when_asked(served):
    _, health, _, _ = served
    reply = curl(f"{health}/healthcheck", "-H", "Accept: application/json")
    assert reply.status == 200 and reply.json() == {"detailed": False, "reasons": ["OK"]}


@pytest.mark.parametrize("path", ["/main/v3", "/admin/v3/users", "/v3", "/"])
def test_health_listener_serves_nothing_but_the_healthcheck(served, path):
    _, health, _, _ = served
    reply = curl(health + path)
    assert reply.status == 404, reply
    assert reply.json()["error"]["code"] == 404


def test_health_listener_serves_prometheus_metrics_without_a_certificate(served):
    _, health, _, _ = served
    assert curl(f"{health}/healthcheck").status == 200
    reply = curl(f"{health}/metrics")

    assert reply.status == 200, reply
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    # The probe above went through the main app's pipeline, counted under its route.
    assert 'keystone_lite_http_requests_total{app="main",method="GET",route="/healthcheck",' \
        'status="200"}' in text
    assert "keystone_lite_token_keys 2.0" in text
    assert curl(f"{health}/metrics/more").status == 404


def test_tls_port_still_refuses_clients_without_a_certificate(served):
    base, _, _, ca = served
    reply = curl(f"{base}/healthcheck", "--cacert", ca)
    assert reply.status is None and reply.exit_code in (35, 56), reply


def test_health_listener_reports_the_key_repository_gone_then_back(served):
    _, health, data, _ = served
    keys = os.path.join(data, "fernet-keys")
    os.rename(keys, keys + ".away")
    try:
        time.sleep(1.1)  # past the second the last answer is kept
        reply = curl(f"{health}/healthcheck")
    finally:
        os.rename(keys + ".away", keys)
    assert (reply.status, reply.body) == (503, b"key repository unreadable"), reply
    time.sleep(1.1)
    assert curl(f"{health}/healthcheck").status == 200


# -- quickstart ------------------------------------------------------------------------------------

def test_busy_port_is_reported_before_any_setup_with_the_port_hint(tmp_path, empty_database):
    config = write_config(tmp_path, empty_database)
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": config}
    with socket.socket() as occupant:
        occupant.bind((HOST, 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        result = subprocess.run([KEYSTONE_LITE, "quickstart", "--port", str(port)], env=env,
                                capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr == (f"keystone-lite quickstart: 127.0.0.1:{port} is already in use "
                             "(another keystone-lite?); choose a free port with --port N\n")
    assert not (tmp_path / "data").exists()   # nothing was set up


def test_quickstart_verify_client_optional_lets_clients_without_certificates_in(
        tmp_path, empty_database):
    config = write_config(tmp_path, empty_database)
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": config, "PATH": "/usr/bin:/bin"}
    port, health_port = two_free_ports()
    ca = str(tmp_path / "data" / "pki" / "ca.crt")

    with started(["quickstart", "--port", str(port), "--verify-client", "optional",
                  "--health-port", str(health_port)], env, "Ctrl-C stops") as output:
        discovery = curl(f"https://{HOST}:{port}/main/v3", "--cacert", ca)
        health = curl(f"http://{HOST}:{health_port}/healthcheck")

    assert discovery.status == 200, (discovery, output)
    assert discovery.json()["version"]["id"] == "v3.14"
    assert health.status == 200
    tools = os.path.dirname(sys.executable)
    assert f"keystone-lite-manage is in {tools}, not on PATH" in output
    assert f"{tools}/keystone-lite-manage --config-file {config} pki client bob" in output


def test_quickstart_by_default_still_demands_a_certificate(tmp_path, empty_database):
    config = write_config(tmp_path, empty_database)
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": config}
    port = free_port()
    ca = str(tmp_path / "data" / "pki" / "ca.crt")

    with started(["quickstart", "--port", str(port)], env, "Ctrl-C stops"):
        reply = curl(f"https://{HOST}:{port}/main/v3", "--cacert", ca)
    assert reply.status is None and reply.exit_code in (35, 56), reply
