"""Run docs/guide.md as a reader would: its command blocks, in order, against a real quickstart.

The guide marks each fenced block with an HTML comment on the line before it (invisible on
GitHub):

- ``<!-- guide: setup -->``: the variables every later block uses (``KL``, ``DATA``, ``PKI``)
  and ``PATH``; replaced here by the same names pointing at this run's server and directory.
- ``<!-- guide: run -->``: run with ``bash`` (``set -euo pipefail``); it must exit 0. Options
  after a comma: ``needs openstack`` (skipped, and reported, where the ``openstack`` command is
  not on PATH), ``server stopped`` (the server is stopped first, as the reader is told to).
- ``<!-- guide: quickstart -->``: a one-line ``./quickstart [OPTIONS]``; the server is
  (re)started as ``keystone-lite quickstart --port PORT [OPTIONS]``, which is what
  ./quickstart runs. A ``--health-port P`` there gets a free port Q instead, and later blocks
  read ``127.0.0.1:Q`` where they say ``127.0.0.1:P``.
- ``<!-- guide: output -->``: what the block before prints. Each line must match a line of its
  output (stdout and stderr), in order, other lines in between allowed; ``...`` stands for
  anything.

Every ``sh`` block must carry a marker, so that no command reaches the guide untested. Blocks
share one state as in the reader's terminal: the variables a block sets (saved with
``declare -p``) and the current directory. The server is ``keystone-lite quickstart`` with the
shipped etc/keystone-lite.conf, its ``data_dir`` moved to a temporary directory and its password
hashes made cheap, on a free port of 127.0.0.1; ``KEYSTONE_LITE_CONFIG`` points
keystone-lite-manage at it. Imported by tests/embedded/test_guide.py and
tests/compat/test_guide_clients.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

from builders import LOOPBACK, ROOT, free_port

GUIDE = os.path.join(ROOT, "docs", "guide.md")
SHIPPED_CONFIG = os.path.join(ROOT, "etc", "keystone-lite.conf")
KEYSTONE_LITE = os.path.join(os.path.dirname(sys.executable), "keystone-lite")
SETUP_NAMES = {"PATH", "KL", "DATA", "PKI"}  # what the guide's setup block assigns
BLOCK_TIMEOUT = 60
START_TIMEOUT = 30
STOP_TIMEOUT = 15
READY_LINE = "Ctrl-C stops."

FENCE = re.compile(r"(?:^<!-- guide: (?P<marker>[^>]*?) -->\n)?"
                   r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclasses.dataclass
class Block:
    kind: str  # setup, run, quickstart, output
    options: tuple[str, ...]
    body: str
    expected: list[str] = dataclasses.field(default_factory=list)  # the output block's lines


def blocks(text: str) -> list[Block]:
    """The marked blocks of the guide, each ``output`` block attached to the block before it.
    Raises AssertionError for an unmarked ``sh`` block or an output block that follows no
    command."""
    found: list[Block] = []
    for match in FENCE.finditer(text):
        marker, lang, body = match.group("marker"), match.group("lang"), match.group("body")
        if marker is None:
            assert lang != "sh", f"sh block without a <!-- guide: ... --> marker:\n{body}"
            continue
        kind, *options = [part.strip() for part in marker.split(",")]
        assert kind in ("setup", "run", "quickstart", "output"), marker
        if kind == "output":
            assert found and found[-1].kind == "run" and not found[-1].expected, body
            found[-1].expected = [line.strip() for line in body.splitlines() if line.strip()]
        else:
            found.append(Block(kind, tuple(options), body))
    return found


def line_pattern(expected: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")))


def assert_shows(output: str, expected: list[str], body: str) -> None:
    """Each expected line matches a line of ``output``, in order."""
    lines = iter(line.strip() for line in output.splitlines())
    for wanted in expected:
        pattern = line_pattern(wanted)
        if not any(pattern.fullmatch(line) for line in lines):
            raise AssertionError(f"the guide says\n{body}\nprints {wanted!r}; it printed:\n"
                                 f"{output}")


def assigned_names(body: str) -> set[str]:
    return set(re.findall(r"^(?:export\s+)?([A-Za-z_]\w*)=", body, re.MULTILINE))


class Quickstart:
    """``keystone-lite quickstart`` on one port, restartable with other options."""

    def __init__(self, directory: str, env: dict, port: int):
        self.directory, self.env, self.port = directory, env, port
        self.process: subprocess.Popen | None = None
        self.log_path = os.path.join(directory, "quickstart.log")

    def start(self, options=()) -> None:
        self.stop()
        with open(self.log_path, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [KEYSTONE_LITE, "quickstart", "--port", str(self.port), *options],
                env=self.env, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"quickstart {options} did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8") as handle:
            return handle.read()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C, as the reader stops it
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self.process = None


@dataclasses.dataclass
class Run:
    """A finished run, its server still serving: the reader's directory, the variables the
    guide's blocks set, and the blocks skipped for want of a command."""

    workdir: str
    base_url: str
    ca: str
    variables: dict[str, str]
    skipped: list[str]


@contextlib.contextmanager
def run(tmp_path, text: str | None = None):
    """Run the guide (``text``, default docs/guide.md) and yield a ``Run`` while its server is
    still up; everything started is stopped at the end."""
    if text is None:
        with open(GUIDE, encoding="utf-8") as handle:
            text = handle.read()
    steps = blocks(text)
    assert steps and steps[0].kind == "setup", "the guide starts with its setup block"
    assert assigned_names(steps[0].body) == SETUP_NAMES, steps[0].body

    server_dir, workdir = tmp_path / "server", tmp_path / "reader"
    server_dir.mkdir()
    workdir.mkdir()
    data = str(server_dir / "data")
    config = str(server_dir / "keystone-lite.conf")
    with open(SHIPPED_CONFIG, encoding="utf-8") as handle:
        shipped = handle.read()
    # The shipped file as quickstart uses it, with the data under this test's directory and
    # cheap password hashes (the same argon2id, fewer passes over less memory).
    for line in ("\ndata_dir = ../data\n", "\n[identity]\n"):
        assert line in shipped, line
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(shipped.replace("\ndata_dir = ../data\n", f"\ndata_dir = {data}\n")
                     .replace("\n[identity]\n", "\n[identity]\nargon2_time_cost = 1\n"
                              "argon2_memory_cost = 1024\n"))

    port = free_port()
    base_url = f"https://{LOOPBACK}:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(KEYSTONE_LITE_CONFIG=config, HOME=str(tmp_path),
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    state = str(tmp_path / "state.sh")
    with open(state, "w", encoding="utf-8") as handle:
        handle.write(f"cd {shlex.quote(str(workdir))}\nKL={base_url}\n"
                     f"DATA={shlex.quote(data)}\nPKI=$DATA/pki\n")
    baseline = subprocess.run(["bash", "-c", "compgen -v"], env=env, capture_output=True,
                              text=True, timeout=BLOCK_TIMEOUT, check=True).stdout.split()
    # After a block: its variables that bash or the environment did not have, and its cwd.
    save = ("{ for __name in $(compgen -v); do case \" $__GUIDE_BASELINE \" in "
            "*\" $__name \"*) ;; *) declare -p \"$__name\";; esac; done; "
            "printf 'cd %q\\n' \"$PWD\"; } > \"$__GUIDE_STATE\"")
    env["__GUIDE_BASELINE"] = " ".join(baseline + ["__name", "__GUIDE_BASELINE",
                                                    "__GUIDE_STATE"])
    env["__GUIDE_STATE"] = state

    server = Quickstart(str(server_dir), env, port)
    skipped = []
    moved = {}  # the guide's --health-port -> the free port used instead
    try:
        server.start()
        for step in steps[1:]:
            if step.kind == "quickstart":
                argv = shlex.split(step.body)
                assert argv[0] == "./quickstart" and len(step.body.strip().splitlines()) == 1
                if "--health-port" in argv:
                    at = argv.index("--health-port") + 1
                    argv[at] = str(moved.setdefault(argv[at], free_port()))
                server.start(argv[1:])
                continue
            if "needs openstack" in step.options and shutil.which("openstack",
                                                                  path=env["PATH"]) is None:
                skipped.append(step.body)
                continue
            if "server stopped" in step.options:
                server.stop()
            body = step.body
            for wanted, used in moved.items():
                body = body.replace(f"{LOOPBACK}:{wanted}", f"{LOOPBACK}:{used}")
            script = f"set -euo pipefail\n. \"$__GUIDE_STATE\"\n{body}\n{save}\n"
            result = subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                                    text=True, timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)
            output = result.stdout + result.stderr
            assert result.returncode == 0, (f"exit status {result.returncode} of\n{step.body}\n"
                                            f"{output}\nserver log:\n{server.log()}")
            assert_shows(output, step.expected, step.body)
        assert server.process is not None, "the guide ends with its server stopped"
        names = "KL DATA PKI " + " ".join(sorted(
            set().union(*(assigned_names(step.body) for step in steps[1:]))))
        dump = subprocess.run(
            ["bash", "-c", f". \"$__GUIDE_STATE\"; for n in {names}; do "
                           "printf '%s=%s\\0' \"$n\" \"${!n-}\"; done"],
            env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=True)
        variables = dict(item.split("=", 1) for item in dump.stdout.split("\0") if item)
        yield Run(str(workdir), base_url, os.path.join(data, "pki", "ca.crt"), variables,
                  skipped)
    finally:
        server.stop()
