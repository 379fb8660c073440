"""The benchmark's own tools: two virtualenvs, wrk, and (when Apache is there) mod_wsgi.

- ``bench/.venv-lite``: keystone_lite (editable, so the code of the checkout is measured)
  with its PostgreSQL driver, gunicorn, and mod_wsgi built for this Python when Apache and apxs are installed.
- ``bench/.venv-keystone``: OpenStack Keystone from PyPI and the same gunicorn. Never the
  project's ``.venv``.
- ``bench/.venv-tools``: matplotlib for the chart, apart so that it cannot change what the
  measured venvs import or how long they take to start.

A venv is (re)installed only when what it should hold changed (a stamp file records it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys

from processes import BENCH, REPO, CommandFailed, run

KEYSTONE_VERSION = "30.0.0"
GUNICORN = "gunicorn==23.0.0"
VENV_LITE = os.path.join(BENCH, ".venv-lite")
VENV_KEYSTONE = os.path.join(BENCH, ".venv-keystone")
VENV_TOOLS = os.path.join(BENCH, ".venv-tools")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PIP_TIMEOUT = 900
APT_TIMEOUT = 600


@dataclasses.dataclass
class Tools:
    lite: str
    keystone: str
    tools: str
    wrk: str | None
    apache: str | None             # the httpd binary, when mod_wsgi could be set up too
    apache_modules: str | None
    wsgi_module_config: str | None  # `mod_wsgi-express module-config` of the lite venv
    notes: list[str]


def _which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def ensure_venv(venv: str, requirements: list[str], fingerprint: str = "",
                env: dict | None = None) -> str:
    """Create ``venv`` with the running Python and install ``requirements`` if they changed."""
    stamp = os.path.join(venv, ".bench-stamp")
    wanted = json.dumps({"python": sys.version, "requirements": requirements,
                         "fingerprint": fingerprint})
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return venv
    _log(f"installing {' '.join(requirements)} into {os.path.relpath(venv, REPO)}")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        _make_venv(venv)
    run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *requirements], PIP_TIMEOUT, env=env)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    return venv


def _make_venv(venv: str) -> None:
    """``python3 -m venv``; Debian's own Python needs its pythonX.Y-venv package for that."""
    try:
        run([sys.executable, "-m", "venv", venv], 120)
    except CommandFailed:
        shutil.rmtree(venv, ignore_errors=True)
        if not _apt_install(f"python{sys.version_info.major}.{sys.version_info.minor}-venv"):
            raise
        run([sys.executable, "-m", "venv", venv], 120)


def _fingerprint(*paths: str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def _apt_install(package: str) -> bool:
    """``apt-get install`` as root (updating the lists once if the package is unknown)."""
    if os.geteuid() != 0 or _which("apt-get") is None:
        return False
    command = ["apt-get", "install", "-y", "--no-install-recommends", package]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run(command, APT_TIMEOUT, env=env)
    except CommandFailed:
        try:
            run(["apt-get", "update"], APT_TIMEOUT, env=env)
            run(command, APT_TIMEOUT, env=env)
        except CommandFailed as failure:
            _log(f"apt-get install {package} failed: {str(failure)[-300:]}")
            return False
    return True


def ensure_wrk(notes: list[str]) -> str | None:
    found = _which("wrk")
    if found is None:
        _log("installing wrk (apt-get)")
        if _apt_install("wrk"):
            found = _which("wrk")
    if found is None:
        notes.append("wrk is missing and could not be installed (needs root and apt-get): "
                     "HTTP benchmarks skipped")
    return found


def _apache(notes: list[str]) -> tuple[str | None, str | None, str | None]:
    """(httpd, module directory, apxs) when Apache httpd is installed."""
    httpd = _which("apache2") or _which("httpd")
    if httpd is None:
        notes.append("Apache httpd is not installed: the mod_wsgi rows are skipped")
        return None, None, None
    apxs = _which("apxs") or _which("apxs2")
    if apxs is None and _apt_install("apache2-dev"):
        apxs = _which("apxs")
    modules = None
    for directory in ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
                      "/usr/lib/httpd/modules"):
        if os.path.exists(os.path.join(directory, "mod_mpm_event.so")):
            modules = directory
            break
    if apxs is None or modules is None:
        notes.append("Apache is installed but apxs or its modules are missing: the mod_wsgi "
                     "rows are skipped")
        return None, None, None
    return httpd, modules, apxs


def _mod_wsgi(venv: str, apxs: str, notes: list[str]) -> str | None:
    express = os.path.join(venv, "bin", "mod_wsgi-express")
    if not os.access(express, os.X_OK):
        _log("building mod_wsgi for the lite venv (about 30 s)")
        try:
            # --no-cache-dir: a wheel cached for another build of the same Python version
            # would link the wrong libpython.
            run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", "--no-cache-dir", "mod_wsgi"], PIP_TIMEOUT,
                env={"APXS": apxs})
        except CommandFailed as failure:
            notes.append(f"mod_wsgi could not be built: {str(failure)[-300:]}")
            return None
    try:
        return subprocess.run([express, "module-config"], capture_output=True, text=True,
                              timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as failure:
        notes.append(f"mod_wsgi-express module-config failed: {failure}")
        return None


def ensure(with_http: bool = True, with_apache: bool = True) -> Tools:
    """Everything the benchmark needs; what cannot be had is skipped with a note."""
    notes: list[str] = []
    # [postgresql]: the two-node row (twonode.py) runs keystone_lite on PostgreSQL.
    lite = ensure_venv(VENV_LITE, ["-e", f"{REPO}[postgresql]", GUNICORN],
                       _fingerprint(os.path.join(REPO, "setup.cfg")))
    keystone = ensure_venv(VENV_KEYSTONE, [f"keystone=={KEYSTONE_VERSION}", GUNICORN])
    tools = ensure_venv(VENV_TOOLS, ["matplotlib"])
    wrk = ensure_wrk(notes) if with_http else None
    apache = modules = module_config = None
    if wrk and with_apache:
        apache, modules, apxs = _apache(notes)
        if apache:
            module_config = _mod_wsgi(lite, apxs, notes)
            if module_config is None:
                apache = None
    return Tools(lite, keystone, tools, wrk, apache, modules, module_config, notes)
