"""``/v3/certificate_revocations``: revoke a client certificate through the admin API.

keystone_lite's own resource (Keystone has none): a certificate named by its thumbprint (SHA-256
of the DER, hex, colons optional, as openssl prints it) or by its serial number (of one issuer's
certificates when ``issuer_dn`` is given, else of any issuer's) is refused from then on, and
every token it earned dies on its next validation on every node (certificates.records). A
revocation is final: it can be listed and read, never changed or deleted; a certificate to be
trusted again is a new certificate.
"""
from __future__ import annotations

from keystone_lite import errors
from keystone_lite.certificates import records
from keystone_lite.db import models
from keystone_lite.identity.resources import Field, Hooks, Resource
from keystone_lite.token.payload import now_us

_TEXT_OR_NULL = {"type": ["string", "null"], "maxLength": 1024}


class RevocationHooks(Hooks):
    def wrap(self, controller, routes: list) -> list:
        # Final: no PATCH, no DELETE (405).
        return [(path, {method: handler for method, handler in methods.items()
                         if method not in ("PATCH", "DELETE")}) for path, methods in routes]

    def creating(self, call, values: dict, body: dict) -> None:
        values.update(records.normalised(
            thumbprint=values["thumbprint"], serial=values["serial"],
            issuer_dn=values["issuer_dn"], reason=values["reason"]))
        if records.existing(call.session, values) is not None:
            raise errors.Conflict("This certificate is already revoked.")
        values["revoked_at"] = now_us()


def render(row, base: str) -> dict:
    return {"id": row.id, "thumbprint": row.thumbprint, "serial": row.serial,
            "issuer_dn": row.issuer_dn, "reason": row.reason,
            "revoked_at": row.revoked_at,
            "links": {"self": f"{base}/v3/certificate_revocations/{row.id}"}}


CERTIFICATE_REVOCATIONS = Resource(
    name="certificate_revocation", collection="certificate_revocations",
    model=models.CertificateRevocation,
    fields=(Field("thumbprint", _TEXT_OR_NULL),
            Field("serial", _TEXT_OR_NULL),
            Field("issuer_dn", _TEXT_OR_NULL),
            Field("reason", {"type": ["string", "null"], "maxLength": 255}, default="")),
    render=render, order_by=("revoked_at", "id"), closed=True, hooks=RevocationHooks())
