"""keystone_lite: a certificate-first token service speaking the Keystone token API."""
