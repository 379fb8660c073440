"""Which tokens are delegated, as Keystone 30 decides (keystone/api/_shared/delegation.py), and
how it words its refusals of them.

A token is delegated unless every method that earned it (a rescoped token keeps its parent's)
authenticates the user directly: one made with an application credential, an OAuth1 access
token, an EC2 or S3 signature or by OAuth 2.0 mutual TLS is, and so is one of no method at all,
and one of a method added later until it is listed here (deny by default). Such a token is a
narrow grant: it cannot become another token (token.authentication), nor manage trusts
(identity.trusts), application credentials (identity.application_credentials), credentials
(identity.credentials, ec2.credentials) or OAuth1 delegations (oauth1.delegation).

A trust-scoped token is a delegation by its scope, not by its methods: each of those places
says whether it counts (Keystone lets a trustee's token manage trusts, to pass the trust on).
"""
from __future__ import annotations

# Keystone's _BUILTIN_PRIMARY_AUTH_METHODS (keystone_lite earns tokens with the first three).
PRIMARY_METHODS = frozenset({"external", "password", "token", "kerberos", "mapped", "openid",
                             "saml2", "totp", "x509"})

_ACTION = "You are not authorized to perform the requested action: "
# Keystone's words (its ForbiddenAction adds a period to one already there: not here).
EXCHANGE_REFUSED = f"{_ACTION}Using a delegated token to create another token is not allowed."
TRUSTS_REFUSED = f"{_ACTION}Delegated tokens cannot manage trusts."
CREDENTIALS_REFUSED = f"{_ACTION}Delegated tokens cannot access credentials directly."
APPLICATION_CREDENTIALS_REFUSED = ("Cannot manage application credentials with a token issued "
                                   "via delegation.")
ACCESS_TOKENS_REFUSED = "Cannot manage OAuth access tokens with a token issued via delegation."
AUTHORIZE_REFUSED = "Cannot authorize a request token with a token issued via delegation."


def is_delegated(token, *, counting_trusts: bool) -> bool:
    """Whether ``token`` (a ValidatedToken; None, the admin token, is not) is delegated: earned
    with no method or with one that is not primary, or standing on an application credential
    or an OAuth1 access token (which those methods always name: checked too, so that no
    payload escapes by its methods alone); or, when ``counting_trusts``, trust-scoped."""
    if token is None:
        return False
    payload = token.payload
    return (not payload.methods or not PRIMARY_METHODS.issuperset(payload.methods)
            or payload.application_credential_id is not None
            or payload.access_token_id is not None
            or (counting_trusts and payload.trust_id is not None))
