"""A real Apache httpd serving a keystone_lite deployment through the shipped mod_ssl config.

``apache_tools`` (session) finds httpd, its modules, curl and mod_wsgi (pip-installing mod_wsgi
into the Python running the tests when ``apxs`` is there to build it). ``apache_site`` (module)
builds a deployment the httpd user can read, writes a standalone httpd.conf that ``Include``s
``httpd/keystone-lite-mod_ssl.conf`` with its ``Define`` lines, starts ``httpd -DFOREGROUND`` in a
process group of its own on 127.0.0.1 and always stops it. A test module that sets
``APACHE_CRL = True`` gets a site with certificate revocation on: a CRL of the dev CA in
``Site.crl_dir``, named by ``KEYSTONE_LITE_CRL`` (``SSLCARevocationFile`` + ``SSLCARevocationCheck
chain``) and by ``[cert_auth] crl_file``; ``Site.publish_crl`` and ``Site.graceful`` change it.

The deployment is an installed tree, as an operator makes one: ``KEYSTONE_LITE_HOME`` holds copies
of the shipped ``httpd/httpd{main,admin}.py`` and ``etc/keystone-lite-paste.ini`` next to this
deployment's ``etc/keystone-lite.conf``. The WSGI scripts load ``../etc/keystone-lite-paste.ini``,
whose ``config_file`` names the ``keystone-lite.conf`` beside it; httpd gets an environment without
any ``KEYSTONE_LITE_*`` variable, so nothing else can point the app elsewhere.

Missing httpd, curl or a way to get mod_wsgi skips the tests, unless
``KEYSTONE_LITE_REQUIRE_HTTPD=1``: then it fails them (CI machines are expected to have Apache).
"""
from __future__ import annotations

import contextlib
import dataclasses
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

import keystone_lite
from keystone_lite import pki
from keystone_lite.cli import manage

from builders import (LOOPBACK as HOST, ROOT, Reply, external_auth, free_port, is_listening,
                      parse_http)

REQUIRE_ENV = "KEYSTONE_LITE_REQUIRE_HTTPD"
SHIPPED_CONF = os.path.join(ROOT, "httpd", "keystone-lite-mod_ssl.conf")
TRUSTED_ISSUER = "CN=keystone_lite dev CA,O=keystone_lite dev"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules")
RUN_USERS = ("www-data", "apache", "daemon")
PIP_TIMEOUT = 600      # building mod_wsgi takes ~22 s here; a slow network gets some slack
START_TIMEOUT = 30     # httpd answers in <0.1 s and the first WSGI response comes in ~1 s
STOP_TIMEOUT = 10      # httpd stops in ~2 s
CURL_MAX_TIME = 15
# The tree whose keystone_lite the tests imported: httpd must run that code too, not whatever
# tree the virtualenv's editable install points at (another checkout or worktree).
CODE_UNDER_TEST = os.path.dirname(os.path.dirname(os.path.abspath(keystone_lite.__file__)))
HTTPD_ENV = {"PATH": SBIN_PATH, "LANG": "C.UTF-8", "PYTHONPATH": CODE_UNDER_TEST}


def unavailable(reason: str):
    """Skip, or fail when the environment says Apache httpd must be there."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(reason)


# -- tools ---------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Tools:
    httpd: str
    modules: str
    curl: str
    wsgi_module_config: str       # LoadModule wsgi_module ... and WSGIPythonHome ..., verbatim
    run_as: pwd.struct_passwd | None  # the User/Group httpd switches to (None: not root)


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")
        if found:
            return found
    return None


def _apxs_libexecdir(apxs: str | None) -> list[str]:
    if apxs is None:
        return []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run([apxs, "-q", "LIBEXECDIR"], capture_output=True, text=True,
                                timeout=20)
        if result.returncode == 0 and result.stdout.strip():
            return [result.stdout.strip()]
    return []


def _mod_wsgi_express() -> str:
    return os.path.join(os.path.dirname(sys.executable), "mod_wsgi-express")


def _mod_wsgi_module_config(apxs: str | None) -> str:
    """``mod_wsgi-express module-config`` of the Python running the tests, installing it first."""
    express = _mod_wsgi_express()
    if not os.access(express, os.X_OK):
        if apxs is None:
            unavailable(f"mod_wsgi is not installed for {sys.executable} and apxs (apache2-dev) "
                        "is missing to build it")
        # --no-cache-dir: a wheel cached for another Python of the same version would link the
        # wrong libpython (docs/deployment.md).
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir",
                   "mod_wsgi"]
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=PIP_TIMEOUT, env={**os.environ, "APXS": apxs})
        except subprocess.TimeoutExpired:
            unavailable(f"{' '.join(command)} did not finish in {PIP_TIMEOUT} s")
        if result.returncode != 0 or not os.access(express, os.X_OK):
            unavailable(f"{' '.join(command)} failed ({result.returncode}):\n"
                        f"{(result.stdout + result.stderr)[-3000:]}")
    result = subprocess.run([express, "module-config"], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0 or "LoadModule wsgi_module" not in result.stdout:
        pytest.fail(f"{express} module-config failed ({result.returncode}):\n"
                    f"{result.stdout}{result.stderr}", pytrace=False)
    return result.stdout.strip()


@pytest.fixture(scope="session")
def apache_tools() -> Tools:
    httpd = _which("apache2", "httpd")
    if httpd is None:
        unavailable("Apache httpd is not installed (apt-get install apache2 apache2-dev)")
    curl = _which("curl")
    if curl is None:
        unavailable("the curl binary is not installed (apt-get install curl)")
    apxs = _which("apxs", "apxs2")
    modules = next((directory for directory in (*_apxs_libexecdir(apxs), *MODULE_DIRS)
                    if os.path.exists(os.path.join(directory, "mod_ssl.so"))), None)
    if modules is None:
        unavailable(f"no Apache module directory with mod_ssl.so among {MODULE_DIRS}")
    run_as = None
    if os.geteuid() == 0:
        run_as = next((entry for entry in map(_user, RUN_USERS) if entry), None)
        if run_as is None:
            unavailable(f"none of the users {RUN_USERS} exists for httpd to run as")
    return Tools(httpd, modules, curl, _mod_wsgi_module_config(apxs), run_as)


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


# -- the site ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Site:
    """The running httpd: ``port`` is the shipped vhost, ``optional_port`` the documented variant
    with ``SSLVerifyClient optional`` (+ ``Require expr`` on /main)."""

    tools: Tools
    root: str
    home: str
    pki_dir: str
    other_pki_dir: str
    port: int
    optional_port: int
    crl_dir: str | None = None     # with APACHE_CRL: crl.pem and ca.crt, readable by httpd's user
    server: "Server | None" = None
    #: The shipped plain-HTTP health VirtualHost (KEYSTONE_LITE_HEALTH_PORT).
    health_port: int = 0

    @property
    def base(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def optional_base(self) -> str:
        return f"https://{HOST}:{self.optional_port}"

    @property
    def health_base(self) -> str:
        return f"http://{HOST}:{self.health_port}"

    @property
    def ca(self) -> str:
        return os.path.join(self.pki_dir, "ca.crt")

    @property
    def error_log(self) -> str:
        return os.path.join(self.root, "logs", "error.log")

    def cert(self, user: str, pki_dir: str | None = None) -> list[str]:
        """curl options presenting ``user``'s certificate (from the dev CA unless ``pki_dir``)."""
        clients = os.path.join(pki_dir or self.pki_dir, "clients")
        return ["--cert", os.path.join(clients, f"{user}.crt"),
                "--key", os.path.join(clients, f"{user}.key")]

    def curl(self, url: str, *options: str) -> Reply:
        """The real curl binary; the server's identity is checked against the dev CA."""
        url = url if url.startswith(("https://", "http://")) else self.base + url
        result = subprocess.run(
            # -q: no ~/.curlrc; --noproxy: never send 127.0.0.1 through an https_proxy.
            [self.tools.curl, "-q", "-sS", "-i", "--noproxy", "*",
             "--max-time", str(CURL_MAX_TIME), "--cacert", self.ca, *options, url],
            capture_output=True, timeout=CURL_MAX_TIME + 10)
        return Reply(result.returncode, *parse_http(result.stdout), result.stderr.decode())

    def post_json(self, url: str, document: dict, *options: str) -> Reply:
        return self.curl(url, *options, "-H", "Content-Type: application/json",
                         "-d", json.dumps(document))

    def token_for(self, user: str, project: str) -> str:
        reply = self.post_json("/main/v3/auth/tokens", external_auth(project), *self.cert(user))
        assert reply.status == 201, self.explain(reply)
        return reply.headers["x-subject-token"]

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for name in ("logs/error.log", "logs/access.log", "httpd.out"):
            with contextlib.suppress(OSError), open(os.path.join(self.root, name),
                                                    encoding="utf-8", errors="replace") as log:
                parts.append(f"--- {name} (last {lines} lines) ---\n"
                             + "".join(log.readlines()[-lines:]))
        return "\n".join(parts)

    def publish_crl(self, next_update_in_past: bool = False) -> None:
        """Write the dev CA's CRL of every revoked serial (atomically) where httpd and the app
        read it; httpd sees it after ``graceful``, cert_auth within a second."""
        pki.write_crl(self.pki_dir, os.path.join(self.crl_dir, "crl.pem"),
                      next_update_in_past=next_update_in_past)

    def graceful(self) -> None:
        """``httpd -k graceful`` (what ``apachectl graceful`` runs), then wait for the restart."""
        self.server.graceful()

    def explain(self, reply: Reply | None = None) -> str:
        """For assertion messages: the reply, then the tails of httpd's logs (AH... lines)."""
        return f"{reply!r}\n{self.log_tail()}" if reply is not None else self.log_tail()



def cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


def _install_tree(home: str, base: str, database_url: str | None = None,
                  crl_dir: str | None = None, cert_auth: str = "") -> str:
    """KEYSTONE_LITE_HOME as an operator installs it; returns its keystone-lite.conf.

    ``database_url``: the test run's PostgreSQL database (tests/databases.py); None for SQLite.
    ``crl_dir``: where crl.pem and ca.crt will be, for ``[cert_auth] crl_file`` and ``ca_file``.
    ``cert_auth``: more lines for its [cert_auth] section.
    """
    os.makedirs(os.path.join(home, "httpd"))
    os.makedirs(os.path.join(home, "etc"))
    for script in ("httpdmain.py", "httpdadmin.py", "httpdmetrics.py"):
        shutil.copyfile(os.path.join(ROOT, "httpd", script), os.path.join(home, "httpd", script))
    shutil.copyfile(os.path.join(ROOT, "etc", "keystone-lite-paste.ini"),
                    os.path.join(home, "etc", "keystone-lite-paste.ini"))
    config = os.path.join(home, "etc", "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        # No admin_token: admins log in with their certificates, as in production. Only
        # certificates of the dev CA are accepted (as mod_ssl spells its issuer DN).
        handle.write(f"[DEFAULT]\ndata_dir = ../data\n\n[cert_auth]\n"
                     f"trusted_issuers = {TRUSTED_ISSUER}\n{cert_auth}")
        if crl_dir:
            handle.write(f"crl_file = {crl_dir}/crl.pem\nca_file = {crl_dir}/ca.crt\n")
        if database_url:
            handle.write(f"\n[database]\nconnection = {database_url}\n")
    cli(config, "db_sync")
    cli(config, "fernet_setup")
    cli(config, "bootstrap", "--bootstrap-public-url", f"{base}/main/v3",
        "--bootstrap-internal-url", f"{base}/main/v3", "--bootstrap-admin-url",
        f"{base}/admin/v3")
    for user in ("alice", "bob"):
        cli(config, "user", "create", user, "--project", "demo", "--role", "member")
    return config


def _make_pki(pki_dir: str, other_pki_dir: str) -> None:
    pki.ensure_ca(pki_dir)
    pki.ensure_server_certificate(pki_dir)
    # admin: the bootstrap admin (certificate-only); mallory: a valid certificate, no user.
    for user in ("alice", "admin", "mallory"):
        pki.issue_client_certificate(pki_dir, user)
    pki.ensure_ca(other_pki_dir)
    pki.issue_client_certificate(other_pki_dir, "alice")


def _give_to(path: str, user: pwd.struct_passwd) -> None:
    """chown -R: the SQLite directory and file, the Fernet keys (modes unchanged, keys 0600)."""
    for directory, _, files in os.walk(path):
        os.chown(directory, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)


def _grant_traverse(paths) -> list[str]:
    """``chmod o+x`` on every directory from / down to each path that lacks it (e.g. /root, mode
    700, holding the Python; .tox, mode 700): others may then pass through, not list. Returns the
    directories changed. Left in place afterwards: another run may be using them."""
    changed = []
    for path in paths:
        for candidate in {os.path.abspath(path), os.path.realpath(path)}:
            current = "/"
            for part in candidate.strip("/").split("/"):
                current = os.path.join(current, part)
                info = os.stat(current)
                if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IXOTH:
                    os.chmod(current, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
                    changed.append(current)
    return changed


def _preflight_as(user: pwd.struct_passwd, home: str) -> None:
    """Load both apps as the httpd user: a permission problem shows as a traceback here instead
    of mod_wsgi daemons crash-looping while requests hang."""
    code = ("import sys\nfrom keystone_lite.wsgi import load_application\n"
            "for name in ('main', 'admin'):\n"
            "    load_application(name, f'{sys.argv[1]}/httpd/httpd{name}.py')\n")
    result = subprocess.run([sys.executable, "-c", code, home], capture_output=True, text=True,
                            timeout=60, cwd="/", user=user.pw_uid, group=user.pw_gid,
                            extra_groups=[], env=HTTPD_ENV)
    if result.returncode != 0:
        pytest.fail(f"{user.pw_name} cannot load the apps from {home} (what mod_wsgi would do):\n"
                    f"{result.stderr[-4000:]}", pytrace=False)


def _httpd_conf(tools: Tools, root: str, home: str, pki_dir: str, port: int,
                optional_port: int, health_port: int, crl_dir: str | None = None,
                extra: str = "") -> str:
    modules = tools.modules
    user = (f"User {tools.run_as.pw_name}\nGroup {grp.getgrgid(tools.run_as.pw_gid).gr_name}\n"
            if tools.run_as else "")
    server_cert = os.path.join(pki_dir, "server.crt")
    server_key = os.path.join(pki_dir, "server.key")
    ca = os.path.join(pki_dir, "ca.crt")
    crl = f"Define KEYSTONE_LITE_CRL         {crl_dir}/crl.pem\n" if crl_dir else ""
    return f"""# Generated by tests/httpd/conftest.py: a standalone httpd for one test module.
ServerRoot {root}
ServerName localhost
PidFile {root}/run/httpd.pid
DefaultRuntimeDir {root}/run
ErrorLog {root}/logs/error.log
LogLevel info
LogFormat "%h %{{SSL_PROTOCOL}}x user=%u \\"%r\\" %>s %b %Dus" keystone_lite_test
CustomLog {root}/logs/access.log keystone_lite_test
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
LoadModule ssl_module {modules}/mod_ssl.so
{tools.wsgi_module_config}
# One worker process is plenty; room for httpd to replace it (AH03490 with less).
StartServers 1
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75
SSLSessionCache shmcb:{root}/run/ssl_scache(512000)
WSGISocketPrefix {root}/run/wsgi

# -- the shipped virtual host, exactly as an operator includes it -------------------------------
Define KEYSTONE_LITE_HOME        {home}
Define KEYSTONE_LITE_VENV        {sys.prefix}
Define KEYSTONE_LITE_ADDRESS     {HOST}
Define KEYSTONE_LITE_PORT        {port}
Define KEYSTONE_LITE_SERVER_CERT {server_cert}
Define KEYSTONE_LITE_SERVER_KEY  {server_key}
Define KEYSTONE_LITE_CA          {ca}
Define KEYSTONE_LITE_HEALTH_PORT {health_port}
{crl}Include {SHIPPED_CONF}

# -- the variant docs/deployment.md gives for a port that also serves clients without
#    certificates: SSLVerifyClient optional at the vhost, Require expr on /main. Same daemons.
Listen {HOST}:{optional_port}
<VirtualHost *:{optional_port}>
    SSLEngine on
    SSLCertificateFile {server_cert}
    SSLCertificateKeyFile {server_key}
    SSLVerifyClient optional
    SSLVerifyDepth 2
    SSLCACertificateFile {ca}
    SSLUserName SSL_CLIENT_S_DN_UID
    SSLOptions +StdEnvVars +ExportCertData
    WSGIScriptAlias /main {home}/httpd/httpdmain.py \
        process-group=keystone-lite-main application-group=%{{GLOBAL}}
    WSGIScriptAlias /admin {home}/httpd/httpdadmin.py \
        process-group=keystone-lite-admin application-group=%{{GLOBAL}}
    <Directory {home}/httpd>
        Require all granted
    </Directory>
    <Location /main>
        Require expr %{{SSL_CLIENT_VERIFY}} == 'SUCCESS'
    </Location>
</VirtualHost>
{extra}"""


class Server:
    """``httpd -f CONF -DFOREGROUND`` in a process group of its own."""

    def __init__(self, site: Site, conf: str):
        self.site = site
        self.conf = conf
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(os.path.join(self.site.root, "httpd.out"), "wb") as out:
            # A clean environment: no KEYSTONE_LITE_* from the caller reaches the app; only
            # PYTHONPATH, naming the code under test.
            self.process = subprocess.Popen(
                [self.site.tools.httpd, "-f", self.conf, "-DFOREGROUND"], cwd=self.site.root,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=HTTPD_ENV, start_new_session=True)

    def wait_ready(self) -> None:
        """Both ports accept connections and both apps answer discovery (daemons loaded)."""
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.site.port, self.site.optional_port, self.site.health_port):
            while True:
                self._check_running()
                if is_listening(port):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"httpd not listening on {HOST}:{port} after {START_TIMEOUT} s"
                                f"\n{self.site.explain()}", pytrace=False)
                time.sleep(0.05)
        for app in ("main", "admin"):
            reply = self.site.curl(f"/{app}/", *self.site.cert("alice"))
            if reply.status != 300:
                self._check_running()
                pytest.fail(f"GET /{app}/ through httpd: {self.site.explain(reply)}",
                            pytrace=False)

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"httpd exited with {self.process.returncode}:\n{self.site.explain()}",
                        pytrace=False)

    def graceful(self) -> None:
        """``httpd -k graceful``; returns once httpd has re-read its configuration (bounded)."""
        def restarts() -> int:
            with contextlib.suppress(OSError), open(self.site.error_log, encoding="utf-8",
                                                    errors="replace") as log:
                return log.read().count("resuming normal operations")
            return 0

        before = restarts()
        result = subprocess.run([self.site.tools.httpd, "-f", self.conf, "-k", "graceful"],
                                cwd=self.site.root, capture_output=True, text=True,
                                env=HTTPD_ENV, timeout=STOP_TIMEOUT)
        assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{self.site.explain()}"
        deadline = time.monotonic() + START_TIMEOUT
        while restarts() <= before:
            self._check_running()
            if time.monotonic() > deadline:
                pytest.fail(f"httpd -k graceful: no restart after {START_TIMEOUT} s\n"
                            f"{self.site.explain()}", pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to httpd (it stops its children), then SIGKILL to whatever is left of the
        process group; every wait is bounded."""
        if self.process is None:
            return
        group = self.process.pid
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="module")
def apache_site(apache_tools, database_backend, request):
    """httpd on three free 127.0.0.1 ports (the shipped vhost, the optional variant, the health
    vhost) for a deployment with users alice and bob (members of
    demo) and the certificate-only bootstrap admin; certificates for them, for mallory (no user)
    and for an alice of another CA. With the module's ``APACHE_CRL = True``, also a CRL of the
    dev CA (nothing revoked yet) checked by httpd and cert_auth."""
    with running_site(apache_tools, database_backend.create(),
                      with_crl=getattr(request.module, "APACHE_CRL", False)) as site:
        yield site


@contextlib.contextmanager
def running_site(apache_tools: Tools, database_url: str | None, cert_auth: str = "",
                 prepare=None, extra_conf=None, with_crl: bool = False):
    """The site of ``apache_site``, running until the block ends. ``cert_auth``: more lines
    for keystone-lite.conf's [cert_auth]; ``prepare(site, config)`` runs after the installation
    and the PKI are made (as root, before the httpd user is given the data); ``extra_conf(site)``
    returns more httpd.conf (another virtual host); ``with_crl``: a CRL of the dev CA."""
    root = tempfile.mkdtemp(prefix="keystone-lite-httpd-")
    server = None
    try:
        os.chmod(root, 0o755)    # mkdtemp makes 0700; the httpd user must get to home/ and run/
        for name in ("run", "logs"):
            os.mkdir(os.path.join(root, name))
        port, optional_port, health_port = free_port(), free_port(), free_port()
        while len({port, optional_port, health_port}) < 3:
            optional_port, health_port = free_port(), free_port()
        site = Site(apache_tools, root, os.path.join(root, "keystone-lite"),
                    os.path.join(root, "pki"), os.path.join(root, "other-pki"), port,
                    optional_port, os.path.join(root, "crl") if with_crl else None,
                    health_port=health_port)
        config = _install_tree(site.home, site.base, database_url, site.crl_dir, cert_auth)
        _make_pki(site.pki_dir, site.other_pki_dir)
        if with_crl:
            # Public files where the httpd user (the WSGI daemons) can read them.
            os.mkdir(site.crl_dir, 0o755)
            shutil.copyfile(site.ca, os.path.join(site.crl_dir, "ca.crt"))
            os.chmod(os.path.join(site.crl_dir, "ca.crt"), 0o644)
            site.publish_crl()
        if prepare is not None:
            prepare(site, config)
        if apache_tools.run_as is not None:
            _give_to(os.path.join(site.home, "data"), apache_tools.run_as)
            for directory in _grant_traverse([
                    sys.prefix, sys.base_prefix,
                    os.path.dirname(os.path.realpath(keystone_lite.__file__))]):
                print(f"tests/httpd: chmod o+x {directory} (for {apache_tools.run_as.pw_name})",
                      file=sys.stderr)
            _preflight_as(apache_tools.run_as, site.home)
        conf = os.path.join(root, "httpd.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(_httpd_conf(apache_tools, root, site.home, site.pki_dir, port,
                                     optional_port, health_port, site.crl_dir,
                                     extra_conf(site) if extra_conf else ""))
        server = site.server = Server(site, conf)
        server.start()
        server.wait_ready()
        yield site
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
