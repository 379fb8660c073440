"""Keystone's mapping rule language: each remote match type, placeholders, how matching rules
combine, the trace, and the one-line errors of a rules document that cannot work."""
from __future__ import annotations

import pytest

from keystone_lite.certificates.mapping import evaluate, parse_rules

UID = "SSL_CLIENT_SUBJECT_DN_UID"
OU = "SSL_CLIENT_SUBJECT_DN_OU"
ISSUER = "SSL_CLIENT_ISSUER_DN_CN"
ALICE = {UID: "alice", OU: "ops", ISSUER: "Corp CA"}


def rules(*remote, local=None):
    """One rule: ``local`` (default: the user named {0}) when every ``remote`` holds."""
    return parse_rules({"rules": [{"local": local if local is not None else [
        {"user": {"name": "{0}"}}], "remote": list(remote)}]})


# -- remote match types ------------------------------------------------------------------------

def test_plain_remote_captures_its_value_for_the_placeholder():
    outcome = evaluate(rules({"type": UID}), ALICE)
    assert outcome.matched and outcome.user == {"name": "alice"}
    assert outcome.rule_index == 0


def test_plain_remote_on_a_key_the_certificate_lacks_does_not_match():
    outcome = evaluate(rules({"type": UID}), {OU: "ops"})
    assert not outcome.matched
    assert f"{UID} is not in the certificate" in outcome.trace[0]


def test_any_one_of_matches_an_exact_listed_value_only():
    rule = rules({"type": UID}, {"type": ISSUER, "any_one_of": ["Corp CA", "Other CA"]})
    assert evaluate(rule, ALICE).matched
    refused = evaluate(rule, {**ALICE, ISSUER: "Corp CA 2"})
    assert not refused.matched
    assert "'Corp CA 2' is none of ['Corp CA', 'Other CA']" in refused.trace[0]


def test_any_one_of_regex_is_searched_anywhere_unless_anchored():
    loose = rules({"type": UID}, {"type": ISSUER, "any_one_of": ["Corp"], "regex": True})
    anchored = rules({"type": UID}, {"type": ISSUER, "any_one_of": ["^Corp CA$"],
                                     "regex": True})
    assert evaluate(loose, {**ALICE, ISSUER: "Not Corp CA"}).matched  # re.search, as Keystone
    assert not evaluate(anchored, {**ALICE, ISSUER: "Not Corp CA"}).matched
    assert evaluate(anchored, ALICE).matched


def test_not_any_of_refuses_a_listed_value_and_allows_others():
    rule = rules({"type": UID}, {"type": OU, "not_any_of": ["contractors"]})
    assert evaluate(rule, ALICE).matched
    refused = evaluate(rule, {**ALICE, OU: "contractors"})
    assert not refused.matched
    assert "is one of the excluded ['contractors']" in refused.trace[0]


def test_not_any_of_regex_refuses_any_value_that_matches():
    rule = rules({"type": UID}, {"type": OU, "not_any_of": ["^contract"], "regex": True})
    assert not evaluate(rule, {**ALICE, OU: "contractors-emea"}).matched
    assert evaluate(rule, {**ALICE, OU: "subcontractors"}).matched


def test_not_any_of_on_a_missing_key_does_not_match_as_in_keystone():
    rule = rules({"type": UID}, {"type": OU, "not_any_of": ["contractors"]})
    assert not evaluate(rule, {UID: "alice"}).matched


def test_multi_valued_field_any_one_of_needs_one_value_and_not_any_of_all():
    assert evaluate(rules({"type": UID}, {"type": OU, "any_one_of": ["ops"]}),
                    {**ALICE, OU: "dev;ops"}).matched
    assert not evaluate(rules({"type": UID}, {"type": OU, "not_any_of": ["ops"]}),
                        {**ALICE, OU: "dev;ops"}).matched


def test_a_list_valued_assertion_is_taken_as_it_is():
    outcome = evaluate(rules({"type": UID}, {"type": OU, "any_one_of": ["a;b"]}),
                       {UID: ["alice"], OU: ["a;b"]})
    assert outcome.matched


def test_whitelist_and_blacklist_capture_only_the_values_they_keep():
    local = [{"user": {"name": "{0}"}}, {"groups": "{1}", "domain": {"id": "default"}}]
    white = rules({"type": UID}, {"type": OU, "whitelist": ["ops", "dev"]}, local=local)
    black = rules({"type": UID}, {"type": OU, "blacklist": ["^adm"], "regex": True},
                  local=local)
    assertion = {**ALICE, OU: "ops;admins;qa"}
    assert [group["name"] for group in evaluate(white, assertion).groups] == ["ops"]
    assert [group["name"] for group in evaluate(black, assertion).groups] == ["ops", "qa"]


# -- placeholders ------------------------------------------------------------------------------

def test_placeholders_count_capturing_remotes_only_and_compose():
    rule = rules({"type": ISSUER, "any_one_of": ["Corp CA"]}, {"type": UID},
                 {"type": OU}, local=[{"user": {"name": "{0}@{1}", "email": "{0}@example.test"}}])
    assert evaluate(rule, ALICE).user == {"name": "alice@ops", "email": "alice@example.test"}


def test_a_scalar_placeholder_with_several_values_refuses_rather_than_guesses():
    outcome = evaluate(rules({"type": UID}), {UID: "alice;mallory"})
    assert not outcome.matched
    assert "needs one value for {0}, which has 2" in outcome.trace[0]


def test_a_lone_groups_placeholder_stands_for_every_value():
    rule = rules({"type": UID}, {"type": OU}, local=[
        {"user": {"name": "{0}"}}, {"groups": "{1}", "domain": {"name": "Default"}}])
    outcome = evaluate(rule, {**ALICE, OU: "ops;dev"})
    assert outcome.groups == [{"name": "ops", "domain": {"name": "Default"}},
                              {"name": "dev", "domain": {"name": "Default"}}]


def test_groups_written_as_a_list_literal_as_keystone_reads_them():
    rule = rules({"type": UID}, local=[{"user": {"name": "{0}"}},
                                       {"groups": "['ops', 'dev']", "domain": {"id": "d1"}}])
    assert [group["name"] for group in evaluate(rule, ALICE).groups] == ["ops", "dev"]


def test_a_value_cannot_add_names_to_a_list_literal():
    rule = rules({"type": UID}, {"type": OU}, local=[
        {"user": {"name": "{0}"}}, {"groups": "['staff', 'team-{1}', '{1}']",
                                    "domain": {"id": "d1"}}])
    outcome = evaluate(rule, {**ALICE, OU: "x', 'admins"})
    assert [group["name"] for group in outcome.groups] == [
        "staff", "team-x', 'admins", "x', 'admins"]


def test_a_value_that_looks_like_a_list_stays_one_group_name():
    rule = rules({"type": UID}, {"type": OU}, local=[
        {"user": {"name": "{0}"}}, {"groups": "{1}", "domain": {"id": "d1"}}])
    outcome = evaluate(rule, {**ALICE, OU: "['admins']"})
    assert outcome.groups == [{"name": "['admins']", "domain": {"id": "d1"}}]


# -- combining rules ---------------------------------------------------------------------------

def test_every_matching_rule_adds_groups_and_the_first_user_counts():
    document = {"rules": [
        {"local": [{"user": {"name": "{0}", "domain": {"name": "Corp"}}}],
         "remote": [{"type": UID}]},
        {"local": [{"user": {"name": "someone-else"}}, {"group": {"id": "g-ops"}}],
         "remote": [{"type": OU, "any_one_of": ["ops"]}]},
        {"local": [{"group": {"name": "never", "domain": {"id": "default"}}}],
         "remote": [{"type": OU, "any_one_of": ["nobody"]}]},
        {"local": [{"domain": {"id": "d-corp"}}, {"group_ids": "['g-all', 'g-ops']"}],
         "remote": [{"type": ISSUER}]},
    ]}
    outcome = evaluate(parse_rules(document), ALICE)
    assert outcome.matched and outcome.matched_rules == (0, 1, 3)
    assert outcome.rule_index == 0
    assert outcome.user == {"name": "alice", "domain": {"name": "Corp"}}
    assert outcome.groups == [{"id": "g-ops"}, {"id": "g-all"}]
    assert outcome.domain == {"id": "d-corp"}
    assert outcome.user_domain == {"name": "Corp"}  # the user's own domain comes first
    assert any("names another user, ignored" in line for line in outcome.trace)
    assert outcome.trace[2].startswith("rule 2: no match")


def test_a_domain_object_is_the_domain_of_a_user_who_names_none():
    outcome = evaluate(rules({"type": UID}, local=[{"user": {"name": "{0}"}},
                                                   {"domain": {"name": "Corp"}}]), ALICE)
    assert outcome.user_domain == {"name": "Corp"}


def test_no_rule_matching_says_so_for_each_rule():
    document = {"rules": [
        {"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "SSL_CLIENT_SAN_EMAIL"}]},
        {"local": [{"user": {"name": "{0}"}}],
         "remote": [{"type": UID}, {"type": ISSUER, "any_one_of": ["Other CA"]}]}]}
    outcome = evaluate(parse_rules(document), ALICE)
    assert not outcome.matched and outcome.user is None
    assert outcome.trace == [
        "rule 0: no match: SSL_CLIENT_SAN_EMAIL is not in the certificate",
        f"rule 1: no match: {ISSUER} 'Corp CA' is none of ['Other CA']",
        "no rule matched"]
    assert outcome.summary().count(";") == 2


def test_the_trace_escapes_what_the_certificate_says():
    outcome = evaluate(rules({"type": UID}, {"type": OU, "any_one_of": ["ops"]}),
                       {UID: "alice", OU: "x\u202e\x1b"})
    assert "\x1b" not in outcome.summary() and "\u202e" not in outcome.summary()


# -- the document: accepted shapes and one-line errors -----------------------------------------

def test_keystones_golden_oauth2_mapping_and_a_bare_rules_list_parse():
    golden = [{"local": [{"user": {"name": "{0}", "id": "{1}", "domain": {"name": "{2}"}}}],
               "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_CN"},
                          {"type": "SSL_CLIENT_SUBJECT_DN_UID"},
                          {"type": "SSL_CLIENT_SUBJECT_DN_O"}]}]
    assert parse_rules({"rules": golden, "schema_version": "1.0"}).document == golden
    assert parse_rules(golden).schema_version == "1.0"
    assert len(parse_rules(golden).rules) == 1


@pytest.mark.parametrize("document, error", [
    ({}, "the mapping has no 'rules'"),
    ({"rules": []}, "rules: must be a non-empty list of rules"),
    ({"rules": [], "extra": 1}, "the mapping: unknown key 'extra'"),
    ({"rules": [{"remote": [{"type": UID}]}], "schema_version": "9.9"},
     "schema_version: '9.9' is not one of 1.0, 2.0, 3.0"),
    ([{"remote": [{"type": UID}]}], "rules[0]: 'local' is missing"),
    ([{"local": [], "remote": [], }], "rules[0].remote: must be a non-empty list"),
    ([{"local": [], "remote": [{"type": UID}], "other": {}}],
     "rules[0]: unknown key 'other'; allowed: local, remote"),
    ([{"local": [], "remote": [{"type": UID, "any_one_of": ["a"], "not_any_of": ["b"]}]}],
     "rules[0].remote[0]: give one of any_one_of, not_any_of, not several"),
    ([{"local": [], "remote": [{"type": UID, "anyoneof": ["a"]}]}],
     "rules[0].remote[0]: unknown key 'anyoneof'"),
    ([{"local": [], "remote": [{"any_one_of": ["a"]}]}], "rules[0].remote[0].type: must be"),
    ([{"local": [], "remote": [{"type": UID, "any_one_of": "a"}]}],
     "rules[0].remote[0].any_one_of: must be a list of strings"),
    ([{"local": [], "remote": [{"type": UID, "regex": True}]}],
     "rules[0].remote[0].regex: only goes with any_one_of"),
    ([{"local": [], "remote": [{"type": UID, "any_one_of": ["a"], "regex": "yes"}]}],
     "rules[0].remote[0].regex: must be true or false"),
    ([{"local": [], "remote": [{"type": UID, "not_any_of": ["(unclosed"], "regex": True}]}],
     "rules[0].remote[0].not_any_of[0]: '(unclosed' is not a regular expression"),
    ([{"local": [{"user": {"name": "{1}"}}], "remote": [{"type": UID}]}],
     "rules[0].local[0].user.name: {1} refers to no remote: the rule captures 1 value ({0})"),
    ([{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": UID, "any_one_of": ["a"]}]}],
     "rules[0].local[0].user.name: {0} refers to no remote: the rule captures nothing"),
    ([{"local": [{"user": {"name": "x", "mail": "y"}}], "remote": [{"type": UID}]}],
     "rules[0].local[0].user: unknown key 'mail'"),
    ([{"local": [{"user": {"name": "x", "type": "shadow"}}], "remote": [{"type": UID}]}],
     "rules[0].local[0].user.type: must be one of ephemeral, local"),
    ([{"local": [{"groups": "{0}"}], "remote": [{"type": OU}]}],
     "rules[0].local[0]: 'groups' needs a 'domain' in the same object"),
    ([{"local": [{"groups": ["a"], "domain": {"id": "d"}}], "remote": [{"type": OU}]}],
     "rules[0].local[0].groups: must be a string"),
    ([{"local": [{"group": {"name": "ops"}}], "remote": [{"type": OU}]}],
     "rules[0].local[0].group: must be {\"id\": ...} or {\"name\": ..., \"domain\": ...}"),
    ([{"local": [{"domain": {}}], "remote": [{"type": OU}]}],
     "rules[0].local[0].domain: give 'id' or 'name'"),
    ([{"local": [{"projects": [{"name": "p", "roles": [{"name": "member"}]}]}],
       "remote": [{"type": OU}]}],
     "rules[0].local[0].projects: Keystone's auto-provisioned projects are not supported"),
    ("rules", "rules: must be a non-empty list of rules"),
])
def test_a_document_that_cannot_work_is_refused_in_one_line_naming_the_place(document, error):
    with pytest.raises(ValueError) as raised:
        parse_rules(document)
    message = str(raised.value)
    assert message.startswith(error), message
    assert "\n" not in message
