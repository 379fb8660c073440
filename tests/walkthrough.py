"""Run the shell blocks of a document's walk-through against a real server, as a reader would.

``served(directory)`` installs keystone_lite with the CLI (Alice, certificate only, member of
project ``demo``; the dev PKI) and serves it with ``keystone-lite serve --verify-client
optional`` on a free port of 127.0.0.1; ``run_blocks`` runs every ```` ```sh ```` block of the
document in order, in one shell, in a directory holding ``ca.crt``, ``alice.crt`` and
``alice.key``, with ``KEYSTONE`` set. Imported by tests/embedded and tests/compat.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from keystone_lite import pki
from keystone_lite.cli import manage

from builders import LOOPBACK, ROOT, free_port, is_listening

BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MARK = "=== walkthrough block {} ==="
START_TIMEOUT = 30


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    files: dict  # name in the walk-through -> path


def blocks(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return BLOCK.findall(handle.read())


@contextlib.contextmanager
def served(directory: str):
    config = os.path.join(directory, "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("[DEFAULT]\ndata_dir = data\n[identity]\nargon2_time_cost = 1\n"
                     "argon2_memory_cost = 1024\n")
    port = free_port()
    url = f"https://{LOOPBACK}:{port}"
    for argv in (["db_sync"], ["fernet_setup"], ["pki", "setup"],
                 ["bootstrap", "--bootstrap-public-url", f"{url}/main/v3",
                  "--bootstrap-internal-url", f"{url}/main/v3",
                  "--bootstrap-admin-url", f"{url}/admin/v3"],
                 ["user", "create", "alice", "--project", "demo", "--role", "member"]):
        assert manage.main(["--config-file", config, *argv]) == 0, argv
    pki_dir = pki.default_directory(os.path.join(directory, "data"))
    alice = pki.issue_client_certificate(pki_dir, "alice")
    files = {"ca.crt": os.path.join(pki_dir, "ca.crt"), "alice.crt": alice.certificate,
             "alice.key": alice.key}
    log_path = os.path.join(directory, "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", LOOPBACK, "--port", str(port), "--verify-client", "optional"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not is_listening(port):
            assert process.poll() is None and time.monotonic() < deadline, \
                open(log_path, encoding="utf-8").read()
            time.sleep(0.05)
        yield Server(url, files)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def run_blocks(server: Server, workdir: str, scripts: list[str]) -> dict[int, str]:
    """Run ``scripts`` in order in one ``sh -eu``; returns each block's output by index.
    Fails with the whole output when a command fails."""
    for name, path in server.files.items():
        shutil.copy(path, os.path.join(workdir, name))
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    # The running environment's commands first (python3, and openstack under tox -e compat).
    environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environ.get("PATH", "")
    environ["KEYSTONE"] = server.url
    script = "\n".join(f"echo '{MARK.format(index)}'\n{block}"
                       for index, block in enumerate(scripts))
    result = subprocess.run(["sh", "-eu", "-c", script], cwd=workdir, env=environ,
                            capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    outputs, index = {}, None
    for line in result.stdout.splitlines():
        found = re.fullmatch(MARK.replace("{}", r"(\d+)"), line)
        if found:
            index = int(found.group(1))
            outputs[index] = ""
        elif index is not None:
            outputs[index] += line + "\n"
    return outputs


# -- the documents ------------------------------------------------------------------------------

def check(outputs: dict[int, str], ran_openstack: bool) -> None:
    """What the reader is told to expect, block by block (see the document)."""
    texts = list(outputs.values())
    assert any(line.startswith("demo ['reader'] ") for text in texts
               for line in text.splitlines()), texts
    assert any(text.strip() == "201" for text in texts), texts
    refused = json.loads(texts[-1].strip().splitlines()[-1])
    assert refused["error"] == "invalid_client", texts
    if ran_openstack:
        assert any(text.strip() == "nightly-report" for text in texts), texts


def application_credentials(tmp_path, with_openstack: bool) -> None:
    """docs/application-credentials.md, every block (the ``openstack`` ones only when
    ``with_openstack``), and what the reader is told to expect."""
    scripts = blocks(os.path.join(ROOT, "docs", "application-credentials.md"))
    assert len(scripts) >= 8, "the walk-through lost its commands"
    if not with_openstack:
        scripts = [": openstack not installed here" if "openstack " in script else script
                   for script in scripts]
    server_dir, workdir = tmp_path / "server", tmp_path / "job"
    server_dir.mkdir()
    workdir.mkdir()
    with served(str(server_dir)) as server:
        outputs = run_blocks(server, str(workdir), scripts)
    check(outputs, with_openstack)
    env_file = workdir / "nightly-report.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"  # umask 077, as the reader is told
