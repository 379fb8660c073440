"""A user's own password change: ``POST /v3/users/{user_id}/password`` with
``{"user": {"original_password", "password"}}``, on the main and the admin app.

As Keystone 30 (its recorded answers in keystone-golden-next/users-password-*.json): the
original password is the credential, no X-Auth-Token is needed (Keystone's call is
unenforced), and any 401 is the same bare one whatever failed (unknown user, disabled user,
wrong original, locked account) so that the call tells nothing a login would not. A wrong
original counts toward the lockout as a failed login does. On success (204) the new hash is
stored, which moves the user's revision: every token the user held dies; the password's expiry
starts again, and a lockout ends.

Both hashes run in the hashing slots (PasswordHasher) with no database connection held.
"""
from __future__ import annotations

import hmac

from keystone_lite import errors
from keystone_lite.db import session as db_session
from keystone_lite.identity import parsing, passwords, store
from keystone_lite.identity.admin import ident
from keystone_lite.identity.lockout import Lockout
from keystone_lite.identity.users import PASSWORD_MAX
from keystone_lite.router import no_content


def routes(services) -> list:
    handler = PasswordChange(services)
    return [(rf"/users/{ident('user_id')}/password", {"POST": handler.post})]


def _password(document: dict, key: str) -> str:
    value = document.get(key)
    # The value is never put in the message (it is a password).
    if not isinstance(value, str) or not 0 < len(value) <= PASSWORD_MAX:
        raise errors.ValidationError(f"Invalid input for field/attribute {key}.")
    return value


class PasswordChange:
    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.lockout = services.lockout

    def post(self, req, session, user_id):
        document = parsing.entity(req, "user")
        original = _password(document, "original_password")
        new = _password(document, "password")
        user = store.find_user(session, user_id=user_id) if len(user_id) <= 64 else None
        verified_hash = user.password_hash if user is not None else None
        locked = user is not None and self.lockout.standing(session, user.id)[0]
        enabled = user is not None and user.enabled
        db_session.release_reads(session)  # no connection held while hashing
        # Verified even without a user or when locked, so that timing tells nothing.
        if not self.services.passwords.verify(verified_hash, original) or locked:
            if user is not None:
                self.lockout.failed(user_id)
            raise errors.Unauthorized()
        if not enabled:
            raise errors.Unauthorized()
        new_hash = self.services.passwords.hash(new)
        user = store.find_user(session, user_id=user_id)
        if user is None or not hmac.compare_digest(user.password_hash or "", verified_hash):
            raise errors.Unauthorized()  # changed or deleted meanwhile: the original is stale
        exempt = store.user_options(session, [user.id]).get(user.id, {}).get(
            "ignore_password_expiry") is True
        store.update(session, user, {
            "password_hash": new_hash,
            "password_expires_at": passwords.expiry(self.settings.password_expires_days,
                                                    exempt)})
        Lockout.reset(session, user.id)
        self.services.audit.changed(req, session, "updated", "user", user.id)
        return no_content()
