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
    return PROVIDERS[settings.token_provider](settings)
