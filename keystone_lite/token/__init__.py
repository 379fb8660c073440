"""Tokens: the v3 and v2.0 controllers, the providers that mint them, and their rendering."""
