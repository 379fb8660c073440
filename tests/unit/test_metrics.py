"""keystone_lite.metrics: the Prometheus text a scrape returns, its bounded labels, and the
multiprocess directory that real processes share (and that is emptied when none is running).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from keystone_lite import audit, errors, metrics
from keystone_lite.router import _compiled

from builders import ROOT


def scrape(recorder, key_repository=None) -> dict:
    """{(sample name, sorted labels): value} of a scrape's text, parsed by prometheus_client."""
    text = generate_latest(recorder.scrape_registry(key_repository)).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def recorder(monkeypatch):
    """A recorder of its own (its own registry) as the process's, for the recording
    functions."""
    made = metrics.Recorder(None)
    monkeypatch.setattr(metrics, "_recorder", made)
    return made


def route_of(recorder, prefix: str, script_name: str, pattern: str) -> str:
    (compiled, _), = _compiled([(pattern, {})])
    return recorder.route(prefix, (script_name, compiled))


def test_route_label_is_the_template_under_the_apps_mount_never_the_raw_path(recorder):
    assert route_of(recorder, "/admin", "/admin/v3",
                    r"/users/(?P<user_id>[^/]+)/password") == "/v3/users/{user_id}/password"
    assert route_of(recorder, "/main", "/main/v3", r"/auth/tokens") == "/v3/auth/tokens"
    assert route_of(recorder, "/main", "/main", r"/") == "/"
    assert route_of(recorder, "", "/healthcheck", r"/") == "/healthcheck"
    assert recorder.route("/main", None) == metrics.UNMATCHED


def test_requests_are_counted_and_timed_by_app_route_method_and_status(recorder):
    (pattern, _), = _compiled([(r"/auth/tokens", {})])
    found = ("/admin/v3", pattern)
    for _ in range(3):
        recorder.note_request((("admin", "/admin", found, "GET", "200 OK"), 0.0002))
    recorder.note_request((("admin", "/admin", found, "GET", "404 Not Found"), 0.3))
    recorder.note_request((("admin", "/admin", None, "BREW", "405 Method Not Allowed"), 0.01))

    samples = scrape(recorder)
    labels = (("app", "admin"), ("method", "GET"), ("route", "/v3/auth/tokens"))
    assert samples[("keystone_lite_http_requests_total", tuple(sorted(
        labels + (("status", "200"),))))] == 3
    assert samples[("keystone_lite_http_requests_total", tuple(sorted(
        labels + (("status", "404"),))))] == 1
    assert samples[("keystone_lite_http_request_duration_seconds_count", labels)] == 4
    assert samples[("keystone_lite_http_request_duration_seconds_bucket",
                    tuple(sorted(labels + (("le", "0.0005"),))))] == 3
    assert samples[("keystone_lite_http_request_duration_seconds_sum", labels)] == \
        pytest.approx(0.3006)
    assert samples[("keystone_lite_http_request_duration_seconds_bucket",
                    tuple(sorted(labels + (("le", "0.25"),))))] == 3
    assert samples[("keystone_lite_http_request_duration_seconds_bucket",
                    tuple(sorted(labels + (("le", "0.5"),))))] == 4
    # Neither a method nobody sends nor an unknown path makes a label of its own.
    assert samples[("keystone_lite_http_requests_total", (
        ("app", "admin"), ("method", "other"), ("route", "unmatched"),
        ("status", "405")))] == 1


def test_tokens_failures_cache_and_database_events_each_have_their_counter(recorder):
    metrics.token_issued(("external",))
    metrics.token_issued(("password", "token"))
    metrics.token_validated(("external",))
    metrics.token_revoked(("external",))
    metrics.auth_failed("bad_password")
    metrics.auth_failed("something a later change forgot to list")
    metrics.validation_cache(True)
    metrics.validation_cache(True)
    metrics.validation_cache(False)
    metrics.database_error(errors.DatabaseBusy(detail="locked"))
    metrics.database_error(errors.ServiceUnavailable(detail="down"))
    metrics.database_retry()

    samples = scrape(recorder)
    assert samples[("keystone_lite_tokens_issued_total", (("method", "external"),))] == 1
    assert samples[("keystone_lite_tokens_issued_total", (("method", "password+token"),))] == 1
    assert samples[("keystone_lite_tokens_validated_total", (("method", "external"),))] == 1
    assert samples[("keystone_lite_tokens_revoked_total", (("method", "external"),))] == 1
    assert samples[("keystone_lite_authentication_failures_total",
                    (("reason", "bad_password"),))] == 1
    # An unlisted reason never becomes a label of its own.
    assert samples[("keystone_lite_authentication_failures_total",
                    (("reason", "other"),))] == 1
    assert {labels[0][1] for name, labels in samples
            if name == "keystone_lite_authentication_failures_total"} == set(
        audit.REASONS)
    assert samples[("keystone_lite_validation_cache_hits_total", ())] == 2
    assert samples[("keystone_lite_validation_cache_misses_total", ())] == 1
    assert samples[("keystone_lite_database_errors_total", (("kind", "busy"),))] == 1
    assert samples[("keystone_lite_database_errors_total", (("kind", "unavailable"),))] == 1
    assert samples[("keystone_lite_database_retries_total", ())] == 1


def test_key_repository_version_is_read_at_scrape_time_without_reading_keys(recorder,
                                                                             tmp_path):
    keys = tmp_path / "fernet-keys"
    keys.mkdir()
    for number in (0, 3, 4):
        (keys / str(number)).write_text("not read")
    (keys / "4").chmod(0)  # a scrape lists and stats; it never opens a key

    samples = scrape(recorder, str(keys))
    assert samples[("keystone_lite_token_keys", ())] == 3
    assert samples[("keystone_lite_token_primary_key", ())] == 4
    assert samples[("keystone_lite_token_key_repository_readable", ())] == 1
    assert samples[("keystone_lite_token_key_repository_changed_seconds", ())] == \
        pytest.approx(os.stat(keys).st_mtime)

    (keys / "5").write_text("rotated")
    assert scrape(recorder, str(keys))[("keystone_lite_token_primary_key", ())] == 5


def test_unreadable_key_repository_is_reported_not_raised(recorder, tmp_path):
    samples = scrape(recorder, str(tmp_path / "missing"))
    assert samples[("keystone_lite_token_key_repository_readable", ())] == 0
    assert ("keystone_lite_token_keys", ()) not in samples


def test_recording_functions_do_nothing_before_configure(monkeypatch):
    monkeypatch.setattr(metrics, "_recorder", None)
    metrics.token_issued(("external",))   # no recorder: nothing to count into, no error
    metrics.auth_failed("bad_password")


# -- several real processes ------------------------------------------------------------------

# A process that configures metrics with [metrics] multiprocess_dir = argv[1], issues argv[2]
# tokens, then exits, or with argv[2] = "scrape" prints the scrape's text.
CHILD = textwrap.dedent("""
    import sys, types
    from keystone_lite import metrics
    settings = types.SimpleNamespace(metrics_enabled=True, metrics_multiprocess_dir=sys.argv[1],
                                     config_file="test.conf")
    recorder = metrics.configure(settings)
    if sys.argv[2] == "scrape":
        from prometheus_client import generate_latest
        sys.stdout.write(generate_latest(recorder.scrape_registry(None)).decode())
    else:
        for _ in range(int(sys.argv[2])):
            metrics.token_issued(("external",))
        sys.stdout.write("counted\\n")
        sys.stdout.flush()
        sys.stdin.read()  # stay alive until the test closes stdin
""")


def child(directory: str, action: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items()
           if key != metrics.MULTIPROC_ENV_VAR}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-c", CHILD, directory, action], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def issued_in_scrape(directory: str) -> float:
    process = child(directory, "scrape")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    found = re.search(r'^keystone_lite_tokens_issued_total\{method="external"\} (\S+)$', out,
                      re.M)
    return float(found.group(1)) if found else 0.0


def eventually_issued(directory: str, expected: float, seconds: float = 15.0) -> float:
    """The scraped count once it is ``expected`` (live processes flush every second), or the
    last one seen after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        seen = issued_in_scrape(directory)
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def started(directory: str, tokens: int) -> subprocess.Popen:
    worker = child(directory, str(tokens))
    assert worker.stdout.readline() == "counted\n"
    return worker


def stopped(worker: subprocess.Popen) -> None:
    worker.communicate(timeout=60)
    assert worker.returncode == 0


def test_a_scrape_sums_every_process_and_only_a_start_with_none_running_empties(tmp_path):
    directory = str(tmp_path / "metrics")
    first = started(directory, 3)
    second = started(directory, 4)
    try:
        # A third process reads both live processes' files, which their flushing threads
        # write within a second.
        assert eventually_issued(directory, 7) == 7
        # A process replaced while another runs (mod_wsgi restarting one daemon): the dead
        # one's counts stay, the new one adds to them.
        stopped(second)
        replacement = started(directory, 2)
        stopped(replacement)
        assert issued_in_scrape(directory) == 9
    finally:
        for worker in (first, second):
            if worker.poll() is None:
                stopped(worker)
    # A new start, no process running: the previous run's files are gone.
    assert issued_in_scrape(directory) == 0
