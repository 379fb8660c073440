"""Keystone's OAuth1 extension (OS-OAUTH1): consumers, the delegation flow and the ``oauth1``
auth method."""
