"""Who may call what: the admin role, the service role, or the token's own subject.

Checks are explicit functions raising Unauthorized/Forbidden (never ``assert``, which vanishes
under ``python -O``).
"""
from __future__ import annotations

from keystone_lite import errors
from keystone_lite.context import get_context


def require_caller(req):
    """The caller's validated token; 401 when there is none or it is not valid."""
    context = get_context(req.environ)
    if context["is_admin_token"]:
        return None
    if context["caller"] is None:
        raise errors.Unauthorized()
    return context["caller"]


def is_admin(req, settings) -> bool:
    context = get_context(req.environ)
    caller = context["caller"]
    return context["is_admin_token"] or (
        caller is not None and settings.admin_role in caller.role_names)


def require_admin(req, settings) -> None:
    require_caller(req)
    if not is_admin(req, settings):
        raise errors.Forbidden()


def require_may_see_token(req, settings, subject) -> None:
    """Validation and revocation: admins, the service role and the token's own user."""
    caller = require_caller(req)
    if is_admin(req, settings):
        return
    if settings.service_role in caller.role_names or caller.user.id == subject.user.id:
        return
    raise errors.Forbidden()


def require_admin_or_self(req, settings, user_id: str) -> None:
    """Calls about one user (``/users/{id}/projects``): admins and that user."""
    caller = require_caller(req)
    if is_admin(req, settings) or caller.user.id == user_id:
        return
    raise errors.Forbidden()
