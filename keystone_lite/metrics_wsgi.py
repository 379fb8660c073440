"""Metrics over HTTP: the request filter of the paste pipelines and ``GET /metrics``.

``/metrics`` is served twice. Unauthenticated (``[app:metrics]``) on the operations listeners,
the embedded server's ``--health-port`` and Apache's health VirtualHost, plain HTTP on loopback
by default: the network decides who scrapes, as for Prometheus exporters everywhere. And on the
admin app, behind its client certificate and for admin or service tokens only (policy
``identity:get_metrics``): the admin app is reachable from outside, where any holder of a
certificate could otherwise read failure rates and traffic (no secrets, but not theirs).
"""
from __future__ import annotations

import logging
import time

import webob

from keystone_lite import errors, metrics, policy, services as services_module
from keystone_lite.router import ROUTE_KEY, Router, outside_transaction

LOG = logging.getLogger(__name__)


# -- the request filter --------------------------------------------------------------------------

class RequestMetrics:
    """Notes each request's app, route, method, status and time (until the app returns its
    body: webob bodies are lists, so that is when the work is done); the labels are made when
    the recorder flushes, off the request's path (keystone_lite.metrics.Recorder)."""

    def __init__(self, app, name: str, recorder: metrics.Recorder):
        self.app, self.name, self.note = app, name, recorder.note_request

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        prefix = environ.get("SCRIPT_NAME", "")
        statuses = []

        def start_and_note(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start_and_note)
        finally:
            self.note(((self.name, prefix, environ.get(ROUTE_KEY),
                        environ.get("REQUEST_METHOD", ""), statuses[-1] if statuses else None),
                       time.perf_counter() - started))


def filter_factory(global_conf, app="main", **local_conf):
    """``app`` (paste ini): the label of this pipeline's requests (main or admin)."""
    recorder = metrics.configure(services_module.for_paste(global_conf).settings)
    if recorder is None:
        return lambda application: application
    return lambda application: RequestMetrics(application, app, recorder)


# -- /metrics ------------------------------------------------------------------------------------

def exposition(recorder: metrics.Recorder | None, req, key_repository: str | None) -> webob.Response:
    """The text format (or OpenMetrics, when the scraper asks for it); 404 with metrics off."""
    if recorder is None:
        raise errors.NotFound("Metrics are off ([metrics] enabled = false).")
    from prometheus_client import exposition as prom_exposition

    encoder, content_type = prom_exposition.choose_encoder(req.headers.get("Accept", ""))
    body = encoder(recorder.scrape_registry(key_repository))
    return webob.Response(body=body, headerlist=[("Content-Type", content_type),
                                                 ("Cache-Control", "no-store")])


class ScrapeApp:
    """``GET /metrics`` without authentication: for the operations listener, where the
    network (loopback by default) decides who may scrape (``app_factory``)."""

    def __init__(self, services):
        self.recorder = metrics.configure(services.settings)
        self.key_repository = services.settings.key_repository

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        try:
            # Mounted at /metrics (Apache's alias) or at / (the embedded operations listener).
            if req.path_info.rstrip("/") not in ("", "/metrics"):
                raise errors.NotFound("The resource could not be found.")
            if req.method not in ("GET", "HEAD"):
                raise errors.MethodNotAllowed(["GET", "HEAD"])
            response = exposition(self.recorder, req, self.key_repository)
        except errors.KeystoneError as failure:
            response = errors.render(failure, req)
        except Exception:  # noqa: BLE001 - no catch_errors filter in front of this app
            LOG.exception("unexpected error answering a scrape of /metrics")
            response = errors.render(errors.KeystoneError(), req)
        return response(environ, start_response)


def app_factory(global_conf, **local_conf):
    """``[app:metrics]``: the unauthenticated scrape of the operations listeners."""
    return ScrapeApp(services_module.for_paste(global_conf))


def admin_app_factory(global_conf, **local_conf):
    """``/metrics`` of the admin app: behind its certificate, and for admin or service tokens
    only (policy ``identity:get_metrics``), as the admin app is reachable from outside."""
    built = services_module.for_paste(global_conf)
    recorder = metrics.configure(built.settings)

    @outside_transaction
    def scrape(req):
        policy.enforce(req, built.settings, "identity:get_metrics")
        return exposition(recorder, req, built.settings.key_repository)

    return Router(built, [(r"/", {"GET": scrape})])
