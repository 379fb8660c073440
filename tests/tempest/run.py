"""Tempest's identity suite against keystone_lite, installed and served as an operator would.

    tox -e tempest                 # enforce_scope = false, the example tempest.conf unchanged
    tox -e tempest -- --scoped     # enforce_scope = true, tempest with system-scoped admin

1. A data directory with a keystone-lite.conf (SQLite file, Fernet keys), then
   ``keystone-lite-manage db_sync``, ``fernet_setup``, ``credential_setup`` and ``bootstrap``
   (admin / admin-secret, project admin, region RegionOne; catalog public and internal
   ``http://127.0.0.1:PORT/main/v3``, admin ``http://127.0.0.1:PORT/admin/v3``).
2. gunicorn (2 sync workers, plain HTTP on 127.0.0.1:PORT) serving the ``main`` and ``admin``
   apps of ``etc/keystone-lite-paste.ini`` at /main and /admin (``serve.py``).
3. ``tempest.conf`` from ``../shared/tempest/tempest.conf.example`` (WORKSPACE and PORT filled
   in; nothing else changed, except the two scope options of ``--scoped``), then
   ``tempest run --regex '^tempest\\.api\\.identity' --concurrency 2`` in that workspace.
4. The server is stopped (always, in bounded time); the results (``stestr last --subunit``) are
   compared with ``../shared/tempest/keystone30-passing.txt`` (the tests that pass on Keystone
   30) and the expected-failures file beside this script: every listed Keystone test must pass
   unless it is an expected failure, and an expected failure that passes must be removed from
   the file. Exit status 1 otherwise.

Everything (config, data, logs, tempest workspace, ``failures.txt`` with a one-line reason for
each Keystone test that failed) stays in the work directory, printed at the start.
"""
from __future__ import annotations

import argparse
import collections
import configparser
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.path.normpath(os.path.join(REPO, os.pardir, "shared", "tempest"))
PASTE_INI = os.path.join(REPO, "etc", "keystone-lite-paste.ini")
BIN = os.path.dirname(sys.executable)
HOST = "127.0.0.1"
ADMIN_PASSWORD = "admin-secret"
READY_TIMEOUT = 60
STOP_TIMEOUT = 10
TEMPEST_TIMEOUT = 40 * 60
PREFIX = "tempest.api.identity."

# Test modules (under tempest.api.identity.) by area, in the order of the summary table.
AREAS = [
    ("users", ["admin.v3.test_users", "admin.v3.test_users_negative",
               "admin.v3.test_list_users", "admin.v3.test_default_project_id"]),
    ("groups", ["admin.v3.test_groups"]),
    ("roles (incl. implied roles)", ["admin.v3.test_roles"]),
    ("inherited roles (OS-INHERIT)", ["admin.v3.test_inherits"]),
    ("projects (incl. tags)", ["admin.v3.test_projects", "admin.v3.test_projects_negative",
                               "admin.v3.test_list_projects", "admin.v3.test_project_tags"]),
    ("domains", ["admin.v3.test_domains", "admin.v3.test_domains_negative"]),
    ("domain configuration", ["admin.v3.test_domain_configuration"]),
    ("regions", ["admin.v3.test_regions"]),
    ("services and endpoints", ["admin.v3.test_services", "admin.v3.test_endpoints",
                                "admin.v3.test_endpoints_negative"]),
    ("endpoint groups (OS-EP-FILTER)", ["admin.v3.test_endpoint_groups"]),
    ("policies", ["admin.v3.test_policies"]),
    ("credentials", ["admin.v3.test_credentials"]),
    ("tokens (admin)", ["admin.v3.test_tokens"]),
    ("trusts", ["admin.v3.test_trusts"]),
    ("application credentials (admin)", ["admin.v3.test_application_credentials"]),
    ("OAuth1 consumers", ["admin.v3.test_oauth_consumers"]),
    ("v3 non-admin: API discovery", ["v3.test_api_discovery"]),
    ("v3 non-admin: tokens and catalog", ["v3.test_tokens", "v3.test_catalog"]),
    ("v3 non-admin: projects and domains", ["v3.test_projects", "v3.test_domains"]),
    ("v3 non-admin: application credentials and access rules",
     ["v3.test_application_credentials", "v3.test_access_rules"]),
    ("v3 non-admin: EC2 credentials", ["v3.test_ec2_credentials"]),
]


def area_of(test_id: str) -> str:
    module = test_id[len(PREFIX):].rsplit(".", 2)[0]
    for area, modules in AREAS:
        if module in modules:
            return area
    return "other"


def shown(path: str) -> str:
    """``path`` relative to the checkout when it is inside it."""
    relative = os.path.relpath(path, REPO)
    return path if relative.startswith(os.pardir) else relative


def read_list(path: str) -> dict:
    """{test id: comment} of a file with one test id a line, '# ...' comments."""
    tests = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            test, _, comment = line.partition("#")
            if test.strip():
                if test.strip() in tests:
                    sys.exit(f"{path}:{number}: {test.strip()} is listed twice")
                tests[test.strip()] = comment.strip()
    return tests


# -- installing and serving keystone_lite ---------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def install(workdir: str, port: int, scoped: bool) -> str:
    """keystone-lite.conf, database, keys and bootstrap in ``workdir``; returns the config."""
    config = os.path.join(workdir, "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("[DEFAULT]\ndata_dir = data\n\n"
                     f"[oslo_policy]\nenforce_scope = {str(scoped).lower()}\n")
    base = f"http://{HOST}:{port}"
    for command in (["db_sync"], ["fernet_setup"], ["credential_setup"],
                    ["bootstrap", "--bootstrap-username", "admin",
                     "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                     "--bootstrap-region-id", "RegionOne",
                     "--bootstrap-public-url", f"{base}/main/v3",
                     "--bootstrap-internal-url", f"{base}/main/v3",
                     "--bootstrap-admin-url", f"{base}/admin/v3"]):
        subprocess.run([os.path.join(BIN, "keystone-lite-manage"), "--config-file", config,
                        *command], check=True, stdout=subprocess.DEVNULL)
    return config


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def serve(workdir: str, config: str, port: int) -> subprocess.Popen:
    """gunicorn on HOST:port serving serve.py; returns once /main/v3 and /admin/v3 answer."""
    log = open(os.path.join(workdir, "gunicorn.log"), "wb")
    process = subprocess.Popen(
        [os.path.join(BIN, "gunicorn"), "--workers", "2", "--worker-class", "sync",
         "--bind", f"{HOST}:{port}", "--graceful-timeout", "3", "--timeout", "120",
         "--access-logfile", os.path.join(workdir, "access.log"),
         "--chdir", HERE, "serve:application"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "KEYSTONE_LITE_CONFIG": config, "KEYSTONE_LITE_PASTE": PASTE_INI})
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT
    for mount in ("/main", "/admin"):
        while True:
            try:
                urllib.request.urlopen(f"http://{HOST}:{port}{mount}/v3", timeout=5).close()
                break
            except (urllib.error.URLError, OSError) as failure:
                if process.poll() is not None or time.monotonic() > deadline:
                    stop(process)
                    sys.exit(f"gunicorn did not serve {mount}/v3 ({failure}); see "
                             f"{workdir}/gunicorn.log")
                time.sleep(0.2)
    return process


# -- tempest ----------------------------------------------------------------------------------

def write_tempest_conf(workspace: str, port: int, scoped: bool) -> str:
    with open(os.path.join(REFERENCE, "tempest.conf.example"), encoding="utf-8") as handle:
        text = handle.read().replace("WORKSPACE", workspace).replace("PORT", str(port))
    if scoped:
        conf = configparser.RawConfigParser()
        conf.optionxform = str
        conf.read_string(text)
        conf.set("auth", "admin_system", "all")
        if not conf.has_section("enforce_scope"):
            conf.add_section("enforce_scope")
        conf.set("enforce_scope", "keystone", "true")
        out = io.StringIO()
        conf.write(out)
        text = out.getvalue()
    for directory in ("etc", "logs", "tempest_lock"):  # what `tempest init` would make
        os.makedirs(os.path.join(workspace, directory))
    path = os.path.join(workspace, "etc", "tempest.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def run_tempest(workspace: str, conf: str, args) -> None:
    command = [os.path.join(BIN, "tempest"), "run", "--config-file", conf, "--regex", args.regex]
    command += ["--serial"] if args.concurrency == 1 else ["--concurrency",
                                                           str(args.concurrency)]
    log_path = os.path.join(workspace, "tempest-run.log")
    print(f"tempest: {' '.join(command)} (output in {log_path})", flush=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workspace, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(TEMPEST_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"tempest: still running after {TEMPEST_TIMEOUT} s, stopped", flush=True)
        finally:
            stop(process)  # tempest's exit status only says that some test failed


def results(workspace: str) -> tuple:
    """{test id without [tags]: (status, one-line reason)} of the last run in ``workspace``,
    and the count of each status. A class whose setUpClass failed reports no test: it is in the
    dict under the class's id, and ``status_of`` gives its tests that failure."""
    import subunit  # noqa: PLC0415 - in the tox env only
    import testtools  # noqa: PLC0415

    errors = http_errors(workspace)
    stream = subprocess.run([os.path.join(BIN, "stestr"), "last", "--subunit"], cwd=workspace,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    found = {}

    def record(test):
        test_id, status, details = re.sub(r"\[.*\]$", "", test["id"]), test["status"], \
            test["details"]
        reason = details["reason"].as_text().strip() if "reason" in details else ""
        if status not in ("success", "skip"):
            reason = short_reason(details["traceback"].as_text() if "traceback" in details
                                  else reason)
            setup = re.match(r"setUpClass \(.*\.(\w+)\)$", test_id)
            test_class, test_name = (setup.group(1), "setUpClass") if setup else \
                test_id.rsplit(".", 2)[-2:]
            # the test's own requests, else its class's last setUp
            error = errors.get((test_class, test_name)) or errors.get((test_class, "setUp"))
            if error:
                reason += f" [HTTP: {error}]"
        found[test_id] = (status, reason)

    result = testtools.StreamToDict(record)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout").run(result)
    result.stopTestRun()
    counts = collections.Counter(status for status, _ in found.values())
    for test_id, (status, reason) in list(found.items()):
        setup = re.match(r"(setUpClass|tearDownClass) \((.*)\)$", test_id)
        if setup:
            del found[test_id]
            if setup.group(1) == "setUpClass":
                found[setup.group(2)] = (status, f"setUpClass: {reason}")
    return found, counts


def short_reason(traceback: str) -> str:
    """The exception line of a traceback, with tempest's 'Details:' line when there is one."""
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if re.match(r"[\w.]+(Error|Exception|Failure|NotFound|Forbidden|Unauthorized|Conflict|"
                    r"BadRequest|ServerFault|Invalid\w*|MismatchError|Mismatch|\w+Exception):",
                    lines[index]) or re.match(r"tempest\.lib\.exceptions\.\w+:", lines[index]):
            return " ".join(lines[index:index + 2])[:300]
    return (lines[-1] if lines else "no detail")[:300]


def http_errors(workspace: str) -> dict:
    """{(class, test or setUpClass): "404 POST /admin/v3/groups"}: the last request that each
    test answered with 4xx or 5xx, then the last of its cleanups, from tempest's log (ids as
    {id}). A hint for the reasons."""
    own, cleanup, current = {}, {}, {}  # current: {worker pid: the (class, test) it last ran}
    pattern = re.compile(r"^\S+ \S+ (\d+) .* Request \((\w+):(\w+)\): (\d{3}) (\w+) "
                         r"https?://[^/]+(\S*)")
    with open(os.path.join(workspace, "logs", "tempest.log"), encoding="utf-8",
              errors="replace") as log:
        for line in log:
            match = pattern.search(line)
            if not match:
                continue
            pid, name, test, status, method, path = match.groups()
            errors = own
            if test == "_run_cleanups":
                (name, test), errors = current.get(pid, (name, test)), cleanup
            current[pid] = name, test
            if status[0] in "45":
                path = re.sub(r"[0-9a-f]{32}", "{id}", path.split("?")[0])
                errors[name, test] = f"{status} {method} {path}"
    return {key: "; ".join(filter(None, [own.get(key), cleanup.get(key) and
                                         f"cleanup: {cleanup[key]}"]))
            for key in own.keys() | cleanup.keys()}


def status_of(test_id: str, found: dict) -> tuple:
    """A test's (status, reason); a test of a class whose setUpClass failed has that failure."""
    if test_id in found:
        return found[test_id]
    return found.get(test_id.rsplit(".", 1)[0], ("not run", "no result"))


# -- the verdict ------------------------------------------------------------------------------

def compare(found: dict, expected_path: str, regex: str, workdir: str) -> int:
    reference = {test for test in read_list(os.path.join(REFERENCE, "keystone30-passing.txt"))
                 if re.match(regex, test)}
    expected = read_list(expected_path)
    problems = []
    for test, reason in expected.items():
        if test not in reference and re.match(regex, test):
            problems.append(f"{test}: in the expected failures but not in "
                            "keystone30-passing.txt (remove it)")
        elif not reason:
            problems.append(f"{test}: an expected failure without a reason")
    passed = {test for test in reference if status_of(test, found)[0] == "success"}
    failed = sorted(reference - passed)
    unexpected = [test for test in failed if test not in expected]
    fixed = sorted(test for test in passed if test in expected)

    with open(os.path.join(workdir, "failures.txt"), "w", encoding="utf-8") as handle:
        for test in sorted(failed, key=lambda test: (area_of(test), test)):
            status, reason = status_of(test, found)
            handle.write(f"{test}  # [{area_of(test)}] {status}: {reason}\n")

    table = collections.defaultdict(lambda: [0, 0])
    for test in reference:
        table[area_of(test)][0] += 1
        table[area_of(test)][1] += test in passed
    order = [area for area, _ in AREAS] + ["other"]
    width = max(map(len, order))
    print(f"\n{'area':<{width}}  Keystone 30  keystone_lite")
    for area in order:
        if area in table:
            print(f"{area:<{width}}  {table[area][0]:>11}  {table[area][1]:>13}")
    print(f"{'total':<{width}}  {len(reference):>11}  {len(passed):>13}\n")

    for test in unexpected:
        status, reason = status_of(test, found)
        print(f"UNEXPECTED FAILURE ({status}) {test}\n    {reason}")
    for test in fixed:
        print(f"UNEXPECTED PASS {test}: passes now, remove it from {shown(expected_path)}")
    for problem in problems:
        print(f"EXPECTED-FAILURES FILE: {problem}")
    print(f"\nKeystone 30 tests: {len(passed)} of {len(reference)} pass; "
          f"{len(failed) - len(unexpected)} expected failures "
          f"({shown(expected_path)}); reasons of all failures in "
          f"{workdir}/failures.txt")
    # The closing line: what failed the run counts as failed.
    print(f"tempest: {len(passed)} passed, {len(unexpected) + len(fixed) + len(problems)} failed")
    return 1 if unexpected or fixed or problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scoped", action="store_true",
                        help="enforce_scope = true; tempest [auth] admin_system = all, "
                             "[enforce_scope] keystone = true (expected-failures-scoped.txt)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="tempest workers (1: --serial); default 2, as the reference run")
    parser.add_argument("--regex", default=r"^tempest\.api\.identity",
                        help="tests to run; only the Keystone tests it matches are compared")
    parser.add_argument("--expected-failures", help="default: expected-failures[-scoped].txt "
                        "beside this script")
    parser.add_argument("--workdir", help="work in WORKDIR/tempest-default (or -scoped), "
                        "emptied first; default: a new temporary directory")
    args = parser.parse_args(argv)
    expected = args.expected_failures or os.path.join(
        HERE, "expected-failures-scoped.txt" if args.scoped else "expected-failures.txt")
    if not os.path.isfile(os.path.join(REFERENCE, "keystone30-passing.txt")):
        sys.exit(f"tempest: no {REFERENCE}/keystone30-passing.txt: the Tempest reference is "
                 "shared/tempest, beside the checkout")
    mode = "scoped" if args.scoped else "default"
    if args.workdir:
        workdir = os.path.abspath(os.path.join(args.workdir, f"tempest-{mode}"))
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
    else:
        workdir = tempfile.mkdtemp(prefix=f"keystone-lite-tempest-{mode}-")
    print(f"tempest: work directory {workdir}, enforce_scope = {str(args.scoped).lower()}",
          flush=True)

    started = time.monotonic()
    port = free_port()
    config = install(workdir, port, args.scoped)
    workspace = os.path.join(workdir, "tempest")
    conf = write_tempest_conf(workspace, port, args.scoped)
    server = serve(workdir, config, port)
    try:
        run_tempest(workspace, conf, args)
    finally:
        stop(server)
    found, counts = results(workspace)
    if not found:
        print(f"tempest: no test ran; see {workspace}/tempest-run.log")
        return 1
    print(f"tempest: done in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())))
    return compare(found, expected, args.regex, workdir)


if __name__ == "__main__":
    sys.exit(main())
