"""Prometheus metrics (prometheus_client): what the service counts (``/metrics`` serves it:
keystone_lite.metrics_wsgi).

One ``Recorder`` per process, made by the first paste factory of an app that has metrics on
(``configure``): prometheus_client keeps its values per process, so the recording functions
below (``token_issued``, ``auth_failed``...) are module functions the call sites call in one
line; each is a no-op until ``configure`` ran (command-line tools, metrics off).

Several processes (mod_wsgi ``processes=N``, gunicorn workers) each count their own requests;
with ``[metrics] multiprocess_dir`` every process writes its values to files there
(prometheus_client's multiprocess mode, through ``PROMETHEUS_MULTIPROC_DIR``, which must be set
before prometheus_client is first imported: ``configure`` sets it, the first flush imports it)
and a scrape of any one of them sums all. The directory is emptied by the first process to start when no other is
running (``_join``): counters then start again from zero, as after any restart.

Labels take only bounded values: route templates (never a raw path), known HTTP methods, status
codes, auth method names, fixed failure reasons. Nothing a client sends becomes a label.
"""
from __future__ import annotations

import atexit
import bisect
import collections
import fcntl
import glob
import logging
import operator
import os
import re
import sys
import threading

from keystone_lite import errors, settings as settings_module

LOG = logging.getLogger(__name__)
MULTIPROC_ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
# Latency buckets, seconds: hot validation takes ~50 µs, password logins ~100 ms (argon2).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)
_PATTERN_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")

_recorder = None
_lock = threading.Lock()
_directory_lock_fd = None  # held (shared flock) for the life of the process: see _join


class Recorder:
    """The process's metrics, created once (prometheus_client refuses a name twice).

    Requests note what happened on a queue (``note``: one ``deque.append`` of a tuple, atomic
    under the GIL, a fraction of a microsecond); ``flush`` adds the queue up and writes one
    increment per series to prometheus_client. A prometheus_client increment costs 3-6 µs in
    multiprocess mode (a lock, a getpid and a write to the file each), several per validation:
    a quarter of a hot validation's ~80 µs if done in the request. A thread flushes every
    ``FLUSH_SECONDS``, a scrape flushes its own process first, and exit flushes what is left.
    """

    FLUSH_SECONDS = 1.0
    QUEUE_LIMIT = 500_000

    def __init__(self, multiprocess_dir: str | None):
        self.multiprocess_dir = multiprocess_dir
        self._counters = None  # the series, made by the first flush (_make_series)
        # Bounded: should the thread fall behind for seconds at tens of thousands of requests
        # a second, the oldest events are dropped rather than the process's memory.
        self._events: collections.deque = collections.deque(maxlen=self.QUEUE_LIMIT)
        self._requests: collections.deque = collections.deque(maxlen=self.QUEUE_LIMIT)
        #: ``note((kind, label))``: a token, failure, cache or database event (``_counters``).
        self.note = self._events.append
        #: ``note_request(((app, SCRIPT_NAME, router's ROUTE_KEY, method, status), seconds))``.
        self.note_request = self._requests.append
        self._flush_lock = threading.Lock()
        self._routes: dict = {}
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    def _make_series(self) -> None:
        """The prometheus_client series, made by the first flush (on the flusher thread, a
        second after start-up, or by a scrape): importing prometheus_client is ~40 ms that
        building the apps need not wait for; until then requests only queue."""
        import prometheus_client as prom  # after PROMETHEUS_MULTIPROC_DIR is set (configure)

        prom.disable_created_metrics()  # as in multiprocess mode, which has no _created series
        multiprocess_dir = self.multiprocess_dir
        # Multiprocess mode: values live in the files, a scrape reads them all; else in a
        # registry of our own (not prometheus_client's global one).
        self.registry = None if multiprocess_dir else prom.CollectorRegistry()
        kw = {"registry": self.registry}
        self.requests = prom.Counter(
            "keystone_lite_http_requests", "HTTP requests answered, by app, route template, "
            "method and status.", ("app", "route", "method", "status"), **kw)
        self.latency = prom.Histogram(
            "keystone_lite_http_request_duration_seconds", "Time to answer an HTTP request, "
            "by app, route template and method.", ("app", "route", "method"),
            buckets=_LATENCY_BUCKETS, **kw)
        tokens = {
            "issued": prom.Counter("keystone_lite_tokens_issued", "Tokens issued, by the auth "
                                   "methods they carry (joined with +).", ("method",), **kw),
            "validated": prom.Counter(
                "keystone_lite_tokens_validated", "Subject tokens validated or checked "
                "(GET/HEAD), by the auth methods they carry.", ("method",), **kw),
            "revoked": prom.Counter("keystone_lite_tokens_revoked", "Tokens revoked, by the "
                                    "auth methods they carry.", ("method",), **kw)}
        auth_failures = prom.Counter(
            "keystone_lite_authentication_failures", "Refused authentications (401, or 403 for a delegation), by "
            "reason.", ("reason",), **kw)
        cache_hits = prom.Counter("keystone_lite_validation_cache_hits", "Token validations "
                                  "answered from the process's cache.", **kw)
        cache_misses = prom.Counter("keystone_lite_validation_cache_misses", "Token "
                                    "validations that had to open the token.", **kw)
        db_errors = prom.Counter(
            "keystone_lite_database_errors", "Database failures answered 503, by kind: busy "
            "(locked, serialization), full, unavailable, pool_exhausted.", ("kind",), **kw)
        db_retries = prom.Counter(
            "keystone_lite_database_retries", "Transactions run again after losing a race for "
            "the database.", **kw)
        # The reasons are the audit events' bounded set (imported here: audit imports the
        # database layer, which imports this module); every reason shows, at 0 until it happens.
        from keystone_lite import audit
        for reason in audit.REASONS:
            auth_failures.labels(reason)
        # event kind -> the counter to add to, given the event's label (if any).
        self._counters = {
            **{kind: (lambda counter: lambda methods: counter.labels(
                "+".join(methods) or "none"))(counter) for kind, counter in tokens.items()},
            "auth": lambda reason: auth_failures.labels(
                reason if reason in audit.REASONS else audit.OTHER),
            "cache": lambda hit: cache_hits if hit else cache_misses,
            "db": db_errors.labels,
            "retry": lambda _: db_retries,
        }

    def start(self) -> None:
        """Flush every FLUSH_SECONDS on a thread of this process (again in a forked child,
        which must not flush its parent's queue), and at exit."""
        atexit.register(self.flush)
        os.register_at_fork(after_in_child=self._after_fork)
        self._start_flusher()

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(target=self._flush_periodically, daemon=True,
                                         name="keystone-lite-metrics")
        self._flusher.start()

    def _after_fork(self) -> None:
        self._events.clear()
        self._requests.clear()
        self._flush_lock = threading.Lock()
        self._start_flusher()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad flush
                LOG.exception("metrics: adding up the counts failed")

    def flush(self) -> None:
        """Write what the queues hold, added up by series, to prometheus_client."""
        with self._flush_lock:
            if self._counters is None:
                self._make_series()
            requests = _drain(self._requests)
            for (app, prefix, found, method, status), count in collections.Counter(
                    map(_first, requests)).items():
                self.requests.labels(app, self.route(prefix, found), _method(method),
                                     status[:3] if status else "500").inc(count)
            latencies: dict = {}
            for (app, prefix, found, method, _status), seconds in requests:
                latencies.setdefault((app, prefix, found, method), []).append(seconds)
            for (app, prefix, found, method), observed in latencies.items():
                _observe(self.latency.labels(app, self.route(prefix, found), _method(method)),
                         observed)
            for (kind, label), count in collections.Counter(_drain(self._events)).items():
                self._counters[kind](label).inc(count)

    def route(self, prefix: str, found) -> str:
        """The route label: the mount inside the app (``/v3``) and the pattern's template."""
        if found is None:
            return UNMATCHED
        key = (prefix, found[0], found[1].pattern)
        label = self._routes.get(key)
        if label is None:
            suffix = found[0][len(prefix):] if found[0].startswith(prefix) else ""
            template = _PATTERN_GROUP.sub(r"{\1}", found[1].pattern)
            label = self._routes[key] = (suffix + template).rstrip("/") or "/"
        return label

    def scrape_registry(self, key_repository: str | None):
        """What a scrape reports, this process's queue flushed first."""
        import prometheus_client as prom
        from prometheus_client import multiprocess

        self.flush()
        registry = self.registry
        if self.multiprocess_dir:
            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, self.multiprocess_dir)
        if key_repository is None:
            return registry
        wrapper = prom.CollectorRegistry()
        wrapper.register(_Registries(registry, KeyRepositoryCollector(key_repository)))
        return wrapper


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_first = operator.itemgetter(0)


def _drain(queue: collections.deque) -> list:
    """What ``queue`` holds now, taken out (appends meanwhile wait for the next drain)."""
    popleft = queue.popleft
    return [popleft() for _ in range(len(queue))]


def _method(method: str) -> str:
    return method if method in _METHODS else "other"


def _observe(child, observed: list) -> None:
    """Add the observations to a histogram's child: one increment per bucket and one for the
    sum (prometheus_client's own buckets, non-cumulative as its ``observe`` keeps them), or,
    should a later prometheus_client keep them otherwise, ``observe`` each."""
    bounds, buckets = getattr(child, "_upper_bounds", None), getattr(child, "_buckets", None)
    if bounds is None or buckets is None or not hasattr(child, "_sum"):
        for seconds in observed:
            child.observe(seconds)
        return
    counts = [0] * len(bounds)
    for seconds in observed:
        counts[bisect.bisect_left(bounds, seconds)] += 1
    for bucket, count in zip(buckets, counts):
        if count:
            bucket.inc(count)
    child._sum.inc(sum(observed))


class _Registries:
    """A collector yielding what several others collect."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


class KeyRepositoryCollector:
    """The token key repository's version, read at scrape time (a directory listing and a
    stat; never a key): how many keys, the primary key's number (it grows by one at each
    rotation) and when the repository last changed."""

    def __init__(self, path: str):
        self.path = path

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        try:
            numbers = [int(name) for name in os.listdir(self.path) if name.isdigit()]
            changed = os.stat(self.path).st_mtime
        except OSError:
            numbers, changed = None, None
        readable = GaugeMetricFamily("keystone_lite_token_key_repository_readable",
                                     "1 when the token key repository could be listed and "
                                     "holds keys.")
        readable.add_metric([], 1 if numbers else 0)
        yield readable
        if numbers:
            yield GaugeMetricFamily("keystone_lite_token_keys", "Keys in the token key "
                                    "repository (staged, primary and secondaries).",
                                    value=len(numbers))
            yield GaugeMetricFamily("keystone_lite_token_primary_key", "Number of the primary "
                                    "token key (one more at each rotation).", value=max(numbers))
            yield GaugeMetricFamily("keystone_lite_token_key_repository_changed_seconds",
                                    "When the token key repository last changed (Unix time).",
                                    value=changed)


# -- set-up --------------------------------------------------------------------------------------

def configure(settings) -> "Recorder | None":
    """Start recording in this process when ``[metrics] enabled``, and return the recorder
    (None when off for these settings). The first call that enables it decides the directory;
    later ones, with other configuration files, share it. Raises ConfigError when the
    multiprocess directory cannot be used or prometheus_client was imported too early."""
    global _recorder
    if not settings.metrics_enabled:
        return None
    with _lock:
        if _recorder is not None:
            return _recorder
        directory = settings.metrics_multiprocess_dir or os.environ.get(MULTIPROC_ENV_VAR)
        if directory:
            where = f"{settings.config_file}: [metrics] multiprocess_dir"
            if "prometheus_client" in sys.modules and os.environ.get(
                    MULTIPROC_ENV_VAR) != directory:
                raise settings_module.ConfigError(
                    f"{where}: prometheus_client was imported before keystone_lite could set "
                    f"{MULTIPROC_ENV_VAR}; set it in the server's environment instead")
            try:
                _join(directory)
            except OSError as exc:
                raise settings_module.ConfigError(f"{where}: {directory}: {exc.strerror}"
                                                  ) from None
            os.environ[MULTIPROC_ENV_VAR] = directory
        elif _mod_wsgi_processes() > 1:
            LOG.warning("%s: [metrics] multiprocess_dir is unset but mod_wsgi runs this app in "
                        "several processes: each counts alone and a scrape shows one of them",
                        settings.config_file)
        _recorder = Recorder(directory or None)
        _recorder.start()
        return _recorder


def _mod_wsgi_processes() -> int:
    """How many daemon processes mod_wsgi runs this app in (0: not under mod_wsgi)."""
    try:
        import mod_wsgi  # exists only inside mod_wsgi
    except ImportError:
        return 0
    return getattr(mod_wsgi, "maximum_processes", 1)


def _join(directory: str) -> None:
    """Use ``directory`` for this process's values; empty it first when no other process
    uses it. Every process holds a shared lock on ``directory/lock`` while it lives; one that
    gets the exclusive lock is alone, so the files there are a previous run's."""
    global _directory_lock_fd
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # others are running: their files count
    else:
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a starting process empties the directory
    _directory_lock_fd = fd


# -- what the call sites record (each a no-op until ``configure``) -------------------------------

def token_issued(methods) -> None:
    if _recorder is not None:
        _recorder.note(("issued", tuple(methods)))


def token_validated(methods) -> None:
    if _recorder is not None:
        _recorder.note(("validated", tuple(methods)))


def token_revoked(methods) -> None:
    if _recorder is not None:
        _recorder.note(("revoked", tuple(methods)))


def auth_failed(reason: str) -> None:
    if _recorder is not None:
        _recorder.note(("auth", reason))


def validation_cache(hit: bool) -> None:
    if _recorder is not None:
        _recorder.note(("cache", hit))


def database_error(failure: errors.ServiceUnavailable) -> None:
    if _recorder is not None:
        _recorder.note(("db", "busy" if isinstance(failure, errors.DatabaseBusy) else "full"
                        if isinstance(failure, errors.DatabaseFull) else "unavailable"))


def database_pool_exhausted() -> None:
    if _recorder is not None:
        _recorder.note(("db", "pool_exhausted"))


def database_retry() -> None:
    if _recorder is not None:
        _recorder.note(("retry", None))
