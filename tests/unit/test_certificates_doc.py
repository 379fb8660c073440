"""The rule documents of docs/certificates.md ("Mapping rules") parse, and its worked examples do
what the text says they do."""
from __future__ import annotations

import json
import os
import re

from cert_builders import certificate, name
from keystone_lite.certificates.assertion import assertion_from_certificate
from keystone_lite.certificates.mapping import evaluate, parse_rules

DOC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "certificates.md")


def json_blocks() -> list:
    """The JSON blocks of the section "Mapping rules" (other sections show other JSON)."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    text = text[text.index("\n## Mapping rules\n"):]
    text = text[:text.find("\n## ", 1)] if "\n## " in text[1:] else text
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_every_rules_document_in_the_guide_parses():
    blocks = json_blocks()
    assert len(blocks) == 4
    for block in blocks:
        parse_rules(block)


def test_example_one_keeps_contractors_and_other_cas_out():
    rules = parse_rules(json_blocks()[1])
    issuer = name(("O", "Corp"), ("CN", "Corp Issuing CA 2"))
    staff = certificate(name(("O", "Corp"), ("OU", "eng"), ("UID", "alice")), issuer=issuer)
    contractor = certificate(name(("O", "Corp"), ("OU", "contractors"), ("UID", "bob")),
                             issuer=issuer)
    foreign = certificate(name(("O", "Corp"), ("OU", "eng"), ("UID", "carol")))
    assert evaluate(rules, assertion_from_certificate(staff)).user == {"name": "alice",
                                                                       "type": "local"}
    assert not evaluate(rules, assertion_from_certificate(contractor)).matched
    assert not evaluate(rules, assertion_from_certificate(foreign)).matched


def test_example_two_names_a_workload_by_its_spiffe_uri_with_its_teams_as_groups():
    rules = parse_rules(json_blocks()[2])
    workload = certificate(name(("OU", "payments"), ("OU", "oncall")),
                           uris=("spiffe://corp.example/svc/billing",))
    outcome = evaluate(rules, assertion_from_certificate(workload))
    assert outcome.user == {"name": "spiffe://corp.example/svc/billing"}
    assert outcome.user_domain == {"name": "services"}
    assert [group["name"] for group in outcome.groups] == ["payments", "oncall"]
    elsewhere = certificate(name(("OU", "x")), uris=("spiffe://evil.example/svc/billing",))
    assert not evaluate(rules, assertion_from_certificate(elsewhere)).matched
