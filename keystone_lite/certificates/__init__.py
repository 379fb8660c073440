"""Certificate identity: thumbprints, the certificates tokens were earned with, revocation."""
