"""Token providers, chosen by short name: ``fernet`` (default) or ``uuid``.

A provider has ``issue(payload, session) -> token id`` and ``open(token id, session) ->
payload or None``; revocation and expiry are checked by the token service, not here.
"""
from keystone_lite.token.providers.fernet import FernetProvider
from keystone_lite.token.providers.uuid import UUIDProvider

PROVIDERS = {
    "fernet": lambda settings: FernetProvider(settings.key_repository),
    "uuid": lambda settings: UUIDProvider(),
}


def make_provider(settings):
    provider = PROVIDERS[settings.token_provider](settings)
    if settings.keystone_key_repository:
        # Moving from OpenStack Keystone: its live tokens open too (docs/migration.md).
        from keystone_lite.token.keystone_tokens import KeystoneTokens, WithKeystoneTokens
        provider = WithKeystoneTokens(provider, KeystoneTokens(
            settings.keystone_key_repository, settings.keystone_auth_methods))
    return provider
