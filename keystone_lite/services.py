"""Start-up wiring: settings → engine, token provider, password hasher, token service.

Built once per configuration file and shared by every filter and app of the paste pipelines
(and by main and admin when one process serves both), so nothing is read per request.
"""
from __future__ import annotations

import dataclasses
import threading

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite import audit as audit_module, settings as settings_module
from keystone_lite.certificates import crl
from keystone_lite.db import session as db_session
from keystone_lite.identity import store
from keystone_lite.identity.lockout import Lockout
from keystone_lite.identity.passwords import PasswordHasher
from keystone_lite.token.cache import MIB, MemoryBudget
from keystone_lite.token.providers import make_provider
from keystone_lite.token.service import TokenService


@dataclasses.dataclass(frozen=True)
class Services:
    settings: settings_module.Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    tokens: TokenService
    passwords: PasswordHasher
    lockout: Lockout
    #: The one memory budget of every per-process cache ([cache] memory_mb).
    cache_budget: MemoryBudget
    #: ``[cert_auth] crl_file``, kept current (None when unset): ``is_revoked(issuer, serial)``.
    revocations: crl.RevocationList | None = None
    #: Audit events ([audit]; keystone_lite.audit): authentications, tokens, admin changes.
    audit: audit_module.Auditor = audit_module.Auditor("none")

    def transaction(self):
        """One transaction: ``with services.transaction() as session: ...``."""
        return db_session.transaction(self.session_factory)

    def run(self, work):
        """``work(session)`` in one transaction, run again once if it lost a race for the
        database (see ``db.session.run``)."""
        return db_session.run(self.session_factory, work)


def build(settings: settings_module.Settings) -> Services:
    """Wire the service; raises KeyRepositoryError / ConfigError naming what is wrong."""
    revocations = crl.from_settings(settings)  # first: a bad CRL file fails before anything opens
    auditor = audit_module.from_settings(settings)
    engine = db_session.make_engine(settings.database_connection)
    session_factory = db_session.make_session_factory(engine)
    cache_budget = MemoryBudget(settings.cache_memory_mb * MIB)
    return Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        tokens=TokenService(
            make_provider(settings), session_factory, settings.token_expiration,
            settings.allow_expired_window, cache_budget,
            whole_catalog_without_filter=settings.return_all_endpoints_if_no_filter,
            revocation_list=revocations),
        passwords=PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_cost,
                                 max_concurrent=settings.max_concurrent_password_hashes,
                                 wait=settings.password_hash_wait,
                                 find_legacy_hash=lambda: db_session.run(
                                     session_factory, store.keystone_hash_sample)),
        lockout=Lockout(session_factory, settings.lockout_failure_attempts,
                        settings.lockout_duration),
        cache_budget=cache_budget,
        revocations=revocations,
        audit=auditor,
    )


_built: dict[str, Services] = {}
_lock = threading.Lock()


def for_paste(global_conf: dict) -> Services:
    """The Services of the config file this paste deployment uses (see settings.find_config_file).

    Every filter and app factory of one paste file calls this; the first call builds, the others
    share the result.
    """
    path = settings_module.find_config_file(global_conf.get("config_file"))
    with _lock:
        if path not in _built:
            _built[path] = build(settings_module.load(path))
        return _built[path]


def forget_all() -> None:
    """Dispose every engine built by ``for_paste`` (tests, and re-loading after a change)."""
    with _lock:
        for services in _built.values():
            services.tokens.counter.close()
            services.engine.dispose()
        _built.clear()
    crl.forget_shared()
