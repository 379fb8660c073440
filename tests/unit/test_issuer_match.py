"""Issue 10, finding 13: a trusted issuer matches only the same name, compared exactly.

Compared: the sequence of RDNs in certificate order, each RDN as a set of (attribute OID, value);
values character for character once RFC 4514 escapes are undone. Not significant: how attribute
types are spelled (case, aliases, dotted OIDs), spaces around separators, the order of attributes
inside one multi-valued RDN, and whether the DN is written as RFC 4514 or OpenSSL's /-form.
"""
from __future__ import annotations

import pytest

from keystone_lite.dn import normalise_dn
from keystone_lite.middleware.cert_auth import Refused, identity_from_environ

from builders import cert_environ

TRUSTED_DN = "CN=keystone-lite dev CA,O=keystone_lite"
TRUSTED = (normalise_dn(TRUSTED_DN),)


def identity_for_issuer(issuer: str):
    # As a WSGI server hands it over (PEP 3333 native string: UTF-8 bytes as latin-1).
    native = issuer.encode("utf-8").decode("latin-1")
    return identity_from_environ({**cert_environ("alice"), "SSL_CLIENT_I_DN": native},
                                 trusted_issuers=TRUSTED)


@pytest.mark.parametrize("issuer", [
    "CN=KEYSTONE-LITE DEV CA,O=keystone_lite",            # value case
    "CN=keystone-lite  dev CA,O=keystone_lite",           # repeated space in a value
    "CN=keystone-lite\u00a0dev CA,O=keystone_lite",       # Unicode space in a value
    "CN=keystone-lite dev CA\\ ,O=keystone_lite",         # escaped trailing space
    "O=keystone_lite,CN=keystone-lite dev CA",            # RDN order
    "CN=keystone-lite dev CA+O=keystone_lite",            # one multi-valued RDN instead of two
    "/CN=keystone-lite dev CA/O=keystone_lite",           # /-form lists the root first
])
def test_issuer_that_is_only_similar_is_refused(issuer):
    with pytest.raises(Refused, match="not in trusted_issuers"):
        identity_for_issuer(issuer)


@pytest.mark.parametrize("issuer", [
    TRUSTED_DN,                                           # as mod_ssl and the embedded server print it
    "/O=keystone_lite/CN=keystone-lite dev CA",           # OpenSSL's one-line form
    "cn=keystone-lite dev CA,o=keystone_lite",            # attribute type case
    "2.5.4.3=keystone-lite dev CA,2.5.4.10=keystone_lite",  # dotted OIDs
    "CN = keystone-lite dev CA , O = keystone_lite",      # spaces around separators
    "CN=keystone-lite\\20dev CA,O=keystone_lite",         # an escaped space is a space
])
def test_issuer_written_another_legitimate_way_is_accepted(issuer):
    assert identity_for_issuer(issuer).remote_user == "alice"


def test_attributes_inside_one_rdn_are_a_set():
    assert normalise_dn("CN=a+UID=b,O=x") == normalise_dn("UID=b+cn=a,O=x")
    assert normalise_dn("CN=a+UID=b,O=x") != normalise_dn("UID=b,CN=a,O=x")


def test_uid_aliases_name_one_attribute():
    assert normalise_dn("userId=alice,O=x") == normalise_dn("UID=alice,O=x") == normalise_dn(
        "0.9.2342.19200300.100.1.1=alice,O=x")


@pytest.mark.parametrize("text", ["CN=#0403616263,O=x", "CN=a\\"])
def test_values_the_parser_cannot_take_exactly_are_not_dns(text):
    with pytest.raises(ValueError):
        normalise_dn(text)


def test_unicode_spaces_and_case_in_values_are_significant():
    assert normalise_dn("CN=a\u00a0b,O=x") != normalise_dn("CN=a b,O=x")
    assert normalise_dn("CN=A b,O=x") != normalise_dn("CN=a b,O=x")
