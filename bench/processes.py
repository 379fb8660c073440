"""Child processes of the benchmark: bounded commands, free ports, process groups, /proc."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"
BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)


class CommandFailed(RuntimeError):
    """A set-up or benchmark command exited non-zero; the message ends with its output."""


def run(command: list[str], timeout: float, env: dict | None = None, cwd: str | None = None
        ) -> str:
    """Run ``command`` to completion within ``timeout`` seconds; returns its stdout."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})}, cwd=cwd,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        raise CommandFailed(f"{' '.join(command)}: no answer after {timeout} s") from expired
    if result.returncode != 0:
        raise CommandFailed(f"{' '.join(command)} exited {result.returncode}:\n"
                            f"{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout


def python_of(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def run_bench_script(venv: str, script: str, *args: str, timeout: float = 600,
                     env: dict | None = None) -> str:
    """``bench/<script>`` with the Python of ``venv`` (so it imports that venv's packages)."""
    return run([python_of(venv), os.path.join(BENCH, script), *args], timeout, env=env,
               cwd=BENCH)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float, alive=lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise CommandFailed(f"the server on port {port} exited while starting")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise CommandFailed(f"nothing listens on {HOST}:{port} after {timeout} s")


def stop_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process (its own session leader), then SIGKILL what is left of its group."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat", "rb") as handle:
                # The command name in parentheses may hold spaces: split after its last ")".
                fields = handle.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
    return found


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (the process's peak resident set) in MiB, or None when the process is gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None
