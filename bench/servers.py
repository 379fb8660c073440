"""WSGI servers for the HTTP benchmark, on 127.0.0.1 only, each a context manager that always
stops its process group.

- ``Gunicorn``: 2 sync workers, the same settings for every app (``apps/gunicorn_conf.py``).
- ``Apache``: httpd with a plain-HTTP vhost and one mod_wsgi daemon group per app, 2 processes
  x 1 thread (the same worker settings as gunicorn), each app in the main interpreter.
"""
from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

from processes import (BENCH, HOST, CommandFailed, children, command_line, free_port,
                       stop_group, wait_for_port)

WORKERS = 2
START_TIMEOUT = 180  # two Keystone workers build their apps side by side on 2 cores
APPS = os.path.join(BENCH, "apps")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _log_tail(path: str, lines: int = 30) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as log:
        return "".join(log.readlines()[-lines:])
    return ""


class Gunicorn:
    """``gunicorn -w 2 -k sync`` serving ``module:application`` found in ``directory``."""

    def __init__(self, venv: str, directory: str, app: str, env: dict, workdir: str,
                 workers: int = WORKERS):
        self.venv, self.directory, self.app, self.env = venv, directory, app, env
        self.workers = workers
        self.workdir = tempfile.mkdtemp(prefix="gunicorn-", dir=workdir)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = os.path.join(self.workdir, "gunicorn.log")

    def base_url(self, mount: str = "") -> str:
        return f"http://{HOST}:{self.port}{mount}"

    def __enter__(self):
        ready = os.path.join(self.workdir, "ready")
        os.mkdir(ready)
        command = [os.path.join(self.venv, "bin", "gunicorn"), "--config",
                   os.path.join(APPS, "gunicorn_conf.py"), "--workers", str(self.workers),
                   "--worker-class", "sync", "--bind", f"{HOST}:{self.port}",
                   "--graceful-timeout", "3", "--chdir", self.directory, self.app]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, "BENCH_READY_DIR": ready},
                start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while len(os.listdir(ready)) < self.workers:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise CommandFailed(f"gunicorn {self.app} did not get {self.workers} workers "
                                        f"ready:\n{_log_tail(self.log)}")
                time.sleep(0.05)
        except BaseException:
            self.__exit__()
            raise
        return self

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def __exit__(self, *exc_info):
        if self.process is not None:
            stop_group(self.process)


def _grant_traverse(paths) -> list[str]:
    """``chmod o+x`` on each directory from / down to ``paths`` that lacks it, so that the httpd
    user can reach the venv's Python (under /root with pyenv) and the checkout. Returns them."""
    changed = []
    for path in paths:
        current = "/"
        for part in os.path.realpath(path).strip("/").split("/"):
            current = os.path.join(current, part)
            mode = os.stat(current).st_mode
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                os.chmod(current, stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append(current)
    return changed


def run_as_user() -> pwd.struct_passwd | None:
    """The user httpd switches to when started as root (httpd refuses to serve as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "apache", "daemon"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise CommandFailed("no www-data, apache or daemon user for httpd to run as")


def give_to(path: str, user: pwd.struct_passwd | None) -> None:
    """chown -R ``path`` (a deployment's data: SQLite and its directory, keys) to ``user``."""
    if user is None:
        return
    for directory, _, files in os.walk(path):
        os.chown(directory, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)


class Apache:
    """httpd -DFOREGROUND with ``mounts`` = {"/mount": wsgi script}, one daemon group per
    mount, each with the Python of ``venv`` unless ``venvs`` names another for its mount
    (mod_wsgi's ``python-home``; the venvs must be of the Python mod_wsgi was built for).
    Environment variables reach the apps through httpd's own environment."""

    def __init__(self, tools, venv: str, mounts: dict, env: dict, workdir: str,
                 venvs: dict | None = None):
        self.tools, self.venv, self.mounts, self.env = tools, venv, mounts, env
        self.venvs = venvs or {}
        self.root = tempfile.mkdtemp(prefix="apache-", dir=workdir)
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.user = run_as_user()
        self.log = os.path.join(self.root, "error.log")

    def base_url(self, mount: str = "") -> str:
        return f"http://{HOST}:{self.port}{mount}"

    @staticmethod
    def group(mount: str) -> str:
        return "bench" + mount.replace("/", "-")

    def _conf(self) -> str:
        user = ""
        if self.user is not None:
            user = f"User {self.user.pw_name}\nGroup {grp.getgrgid(self.user.pw_gid).gr_name}\n"
        lines = [f"""ServerRoot {self.root}
ServerName {HOST}
PidFile {self.root}/httpd.pid
DefaultRuntimeDir {self.root}
ErrorLog {self.log}
LogLevel warn
{user}LoadModule mpm_event_module {self.tools.apache_modules}/mod_mpm_event.so
LoadModule authz_core_module {self.tools.apache_modules}/mod_authz_core.so
{self.tools.wsgi_module_config}
Listen {HOST}:{self.port}
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
WSGISocketPrefix {self.root}/wsgi
WSGIRestrictEmbedded On
"""]
        for mount, script in self.mounts.items():
            group = self.group(mount)
            lines.append(
                f"WSGIDaemonProcess {group} display-name={group} processes={WORKERS} threads=1 "
                f"python-home={self.venvs.get(mount, self.venv)}\n"
                f"WSGIScriptAlias {mount} {script} process-group={group} "
                f"application-group=%{{GLOBAL}}\n"
                f"<Directory {os.path.dirname(script)}>\n    Require all granted\n</Directory>\n")
        path = os.path.join(self.root, "httpd.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        return path

    def __enter__(self):
        if self.user is not None:
            for directory in _grant_traverse([sys.base_prefix, self.venv, *self.venvs.values(),
                                              BENCH,
                                              *map(os.path.dirname, self.mounts.values())]):
                print(f"bench: chmod o+x {directory} (for {self.user.pw_name})",
                      file=sys.stderr)
        conf = self._conf()
        with open(os.path.join(self.root, "httpd.out"), "wb") as out:
            self.process = subprocess.Popen(
                [self.tools.apache, "-f", conf, "-DFOREGROUND"], cwd=self.root,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={"PATH": SBIN_PATH, "LANG": "C.UTF-8", **self.env},
                start_new_session=True)
        try:
            wait_for_port(self.port, 30, lambda: self.process.poll() is None)
            for mount in self.mounts:
                self._first_answer(mount)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _first_answer(self, mount: str) -> None:
        """Any HTTP answer from ``mount``: its daemons have loaded the app."""
        try:
            urllib.request.urlopen(self.base_url(mount) + "/", timeout=START_TIMEOUT).close()
        except urllib.error.HTTPError:
            pass
        except OSError as failure:
            raise CommandFailed(f"httpd {mount}: {failure}\n{_log_tail(self.log)}") from None

    def worker_pids(self, mount: str) -> list[int]:
        name = self.group(mount)
        return [pid for pid in children(self.process.pid)
                if command_line(pid).split(" ", 1)[0] == name]

    def __exit__(self, *exc_info):
        if self.process is not None:
            stop_group(self.process)
