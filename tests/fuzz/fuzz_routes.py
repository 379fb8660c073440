"""The endpoints of the paste-loaded apps, found by walking the WSGI pipelines to their routers.

``deployed_endpoints(apps)`` lists every (app, method, URL template) the routers serve, so an
endpoint added to a controller or a router added to the paste file is fuzzed without touching
the fuzz tests. ``collected_endpoints()`` does the same at collection time on a throw-away
deployment (in-memory SQLite, uuid provider: no data or keys needed to load the apps).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import tempfile

from paste.deploy import loadapp

from keystone_lite import services
from keystone_lite.router import Router
from keystone_lite.settings import CONFIG_ENV_VAR

from builders import PASTE_INI

APPS = ("main", "admin")
_GROUP = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
_LITERALS = re.compile(r"[\w.-]+(\|[\w.-]+)*")
_METACHARACTERS = re.compile(r"[\\^$*+?()\[\]{}|]")


@dataclasses.dataclass(frozen=True, order=True)
class Endpoint:
    """One method on one URL shape of one app; ``{name}`` marks a path parameter."""

    app: str
    template: str  # e.g. "/v3/users/{user_id}"
    method: str

    @property
    def id(self) -> str:
        return f"{self.app} {self.method} {self.template}"

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)


def routers(app, prefix: str = ""):
    """Yield ``(mount prefix, Router)`` for every router reachable from the WSGI ``app``.

    Knows the wrappers this project builds: filters keep the next app in ``.app``, Paste's
    urlmap keeps ``.applications``. Anything else is an error, so that a new kind of wrapper
    cannot hide endpoints from the fuzzer.
    """
    if isinstance(app, Router):
        yield prefix, app
    elif hasattr(app, "applications"):  # paste.urlmap.URLMap
        for (_domain, path), sub_app in app.applications:
            yield from routers(sub_app, prefix + path.rstrip("/"))
    elif hasattr(app, "app"):
        yield from routers(app.app, prefix)
    else:
        raise TypeError(f"fuzz_routes cannot see through {app!r}; teach routers() about it")


def templates(pattern: str) -> list[str]:
    """URL templates of a route pattern: literal alternations are expanded, other groups
    become ``{name}``."""
    expanded = [""]
    position = 0
    for group in _GROUP.finditer(pattern):
        literal = pattern[position:group.start()]
        name, body = group.groups()
        choices = body.split("|") if _LITERALS.fullmatch(body) else [f"{{{name}}}"]
        expanded = [done + literal + choice for done in expanded for choice in choices]
        position = group.end()
    expanded = [done + pattern[position:] for done in expanded]
    for template in expanded:
        if _METACHARACTERS.search(re.sub(r"\{\w+\}", "", template)):
            raise ValueError(f"route pattern {pattern!r} is not understood by fuzz_routes")
    return expanded


def deployed_endpoints(apps: dict) -> list[Endpoint]:
    """Every endpoint of ``{"main": wsgi_app, "admin": wsgi_app}``; HEAD where GET is served."""
    found = set()
    for app_name, app in apps.items():
        for prefix, router in routers(app):
            # The lazily built routes too (rarely used features, the account page): building
            # them is what their first request would do.
            for pattern, methods in router.routes + router.lazy_routes():
                verbs = set(methods) | ({"HEAD"} if "GET" in methods else set())
                for template in templates(pattern.pattern):
                    path = prefix + template if template != "/" else (prefix or "/")
                    found.update(Endpoint(app_name, path, verb) for verb in verbs)
    return sorted(found)


@functools.cache
def collected_endpoints() -> tuple[Endpoint, ...]:
    """``deployed_endpoints`` of a throw-away deployment, for parametrizing at collection."""
    with tempfile.TemporaryDirectory() as directory:
        config = os.path.join(directory, "keystone-lite.conf")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(f"[DEFAULT]\ndata_dir = {directory}\n"
                         "[database]\nconnection = sqlite://\n[token]\nprovider = uuid\n")
        saved = os.environ.get(CONFIG_ENV_VAR)
        os.environ[CONFIG_ENV_VAR] = config
        try:
            apps = {name: loadapp(f"config:{PASTE_INI}", name=name) for name in APPS}
            return tuple(deployed_endpoints(apps))
        finally:
            if saved is None:
                del os.environ[CONFIG_ENV_VAR]
            else:
                os.environ[CONFIG_ENV_VAR] = saved
            services.forget_all()
