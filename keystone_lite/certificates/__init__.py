"""Certificate identity: thumbprints, revocation lists and the rules that map certificates to users."""
