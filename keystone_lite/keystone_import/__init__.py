"""Moving from OpenStack Keystone: its database into keystone_lite's (``source`` reads it,
``apply`` writes the difference), for ``keystone-lite-manage import-keystone``. Its password
hashes (identity.keystone_hashes) and live Fernet tokens (token.keystone_tokens) are honoured
beside; docs/migration.md tells the cut-over."""
