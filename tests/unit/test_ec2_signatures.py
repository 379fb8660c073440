"""keystone_lite.ec2.signatures against AWS's published examples: the values below are AWS's
(its Signature Version 2 and S3 REST authentication pages, the Signature Version 4 test suite
and its IAM and S3 examples), not computed here."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest

from keystone_lite.ec2.signatures import (BadSignature, Ec2Request, ec2_signature_matches,
                                          s3_signature)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# The secrets of AWS's examples (the Version 4 test suite's has a "+" where the others a "/").
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
V4_SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

# Signature Version 2: Amazon EMR's DescribeJobFlows example.
V2_PARAMS = {"AWSAccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Action": "DescribeJobFlows",
             "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
             "Timestamp": "2011-10-03T15:19:30", "Version": "2009-03-31"}
V2_SIGNATURE = "i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs="


def v2_request(host="elasticmapreduce.amazonaws.com", **params) -> Ec2Request:
    return Ec2Request("GET", host, "/", {**V2_PARAMS, **params}, {}, None)


def test_v2_matches_awss_example():
    assert ec2_signature_matches(SECRET, v2_request(), V2_SIGNATURE)
    # ec2-api forwards the parameters with or without the Signature: it is not signed.
    assert ec2_signature_matches(SECRET, v2_request(Signature=V2_SIGNATURE), V2_SIGNATURE)


@pytest.mark.parametrize("request_, secret", [
    (v2_request(Action="TerminateJobFlows"), SECRET),
    (v2_request(host="emr.example.com"), SECRET),
    (v2_request(), V4_SUITE_SECRET),
])
def test_v2_refuses_another_request_or_secret(request_, secret):
    assert not ec2_signature_matches(secret, request_, V2_SIGNATURE)


def test_v2_is_retried_without_the_port_as_keystone_does():
    assert ec2_signature_matches(SECRET, v2_request(host="elasticmapreduce.amazonaws.com:443"),
                                 V2_SIGNATURE)


def test_v2_with_hmac_sha1_signs_aws_s_string_to_sign_with_sha1():
    params = {**V2_PARAMS, "SignatureMethod": "HmacSHA1"}
    string_to_sign = ("GET\nelasticmapreduce.amazonaws.com\n/\nAWSAccessKeyId=AKIAIOSFODNN7EXAMPLE"
                      "&Action=DescribeJobFlows&SignatureMethod=HmacSHA1&SignatureVersion=2"
                      "&Timestamp=2011-10-03T15%3A19%3A30&Version=2009-03-31")
    signature = base64.b64encode(hmac.new(SECRET.encode(), string_to_sign.encode(),
                                          hashlib.sha1).digest()).decode()
    request = Ec2Request("GET", "elasticmapreduce.amazonaws.com", "/", params, {}, None)
    assert ec2_signature_matches(SECRET, request, signature)
    assert not ec2_signature_matches(SECRET, request, V2_SIGNATURE)


@pytest.mark.parametrize("params, message", [
    ({"SignatureVersion": "0"}, "Signature version 0 is not accepted"),
    ({"SignatureVersion": "1"}, "Signature version 1 is not accepted"),
    ({"SignatureVersion": "3"}, "Unknown signature version."),
    ({"SignatureMethod": "HmacMD5"}, "SignatureMethod must be HmacSHA256 or HmacSHA1."),
])
def test_v2_refuses_what_it_does_not_check(params, message):
    with pytest.raises(BadSignature, match=message):
        ec2_signature_matches(SECRET, v2_request(**params), V2_SIGNATURE)


# Signature Version 4: the test suite's get-vanilla, and the IAM ListUsers example.
VANILLA = Ec2Request("GET", "example.amazonaws.com", "/", {}, {
    "Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                     "aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf19"
                     "42676e86291e8372ff2a2260956d9b8aae1d763fbf31"}, EMPTY_SHA256)
VANILLA_SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
LIST_USERS = Ec2Request(
    "GET", "iam.amazonaws.com", "/", {"Action": "ListUsers", "Version": "2010-05-08"}, {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": "iam.amazonaws.com", "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                         "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                         "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b"
                         "5924a6f2b5d7"},
    EMPTY_SHA256)
LIST_USERS_SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_v4_matches_awss_examples():
    assert ec2_signature_matches(V4_SUITE_SECRET, VANILLA, VANILLA_SIGNATURE)
    assert ec2_signature_matches(V4_SUITE_SECRET, LIST_USERS, LIST_USERS_SIGNATURE)


def test_v4_in_query_parameters_is_the_same_signature():
    """The pre-signed form: the Authorization fields as X-Amz-* parameters (which, but for
    X-Amz-Signature, the canonical query string then holds)."""
    params = {"Action": "ListUsers", "Version": "2010-05-08", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
              "X-Amz-Credential": "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
              "X-Amz-Date": "20150830T123600Z", "X-Amz-SignedHeaders": "host"}
    request = Ec2Request("GET", "iam.amazonaws.com", "/", params,
                         {"Host": "iam.amazonaws.com"}, EMPTY_SHA256)
    canonical = ("GET\n/\nAction=ListUsers&Version=2010-05-08&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fiam%2Faws4_request"
                 "&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host\nhost:iam.amazonaws.com"
                 f"\n\nhost\n{EMPTY_SHA256}")
    string_to_sign = ("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
                      + hashlib.sha256(canonical.encode()).hexdigest())
    # AWS's signing key of this date, region and service (its key derivation example).
    key = bytes.fromhex("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert ec2_signature_matches(V4_SUITE_SECRET, request, signature)
    signed = {**params, "X-Amz-Signature": signature}
    assert ec2_signature_matches(V4_SUITE_SECRET, Ec2Request(
        "GET", "iam.amazonaws.com", "/", signed, {"Host": "iam.amazonaws.com"}, EMPTY_SHA256),
        signature)


@pytest.mark.parametrize("change", [
    {"verb": "POST"}, {"path": "/other"}, {"params": {"Action": "DeleteUser"}},
    {"body_hash": "0" * 64},
    {"headers": {**LIST_USERS.headers, "content-type": "text/plain"}},
    {"headers": {**LIST_USERS.headers, "host": "iam.example.com"}},
])
def test_v4_refuses_another_request(change):
    request = dataclasses.replace(LIST_USERS, **change)
    assert not ec2_signature_matches(V4_SUITE_SECRET, request, LIST_USERS_SIGNATURE)


def test_v4_header_values_are_trimmed_and_inner_spaces_collapsed():
    spaced = {**LIST_USERS.headers,
              "content-type": "  application/x-www-form-urlencoded;   charset=utf-8 "}
    assert ec2_signature_matches(V4_SUITE_SECRET, dataclasses.replace(LIST_USERS,
                                                                      headers=spaced),
                                 LIST_USERS_SIGNATURE)


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/iam/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date",  # not the X-Amz-Date's day
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam, "
    "SignedHeaders=content-type;host;x-amz-date",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
    "SignedHeaders=content-type;x-amz-date",  # the host is not signed
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-missing",
])
def test_v4_refuses_signature_material_it_cannot_check(authorization):
    request = dataclasses.replace(LIST_USERS, headers={**LIST_USERS.headers,
                                                       "authorization": authorization})
    with pytest.raises(BadSignature):
        ec2_signature_matches(V4_SUITE_SECRET, request, LIST_USERS_SIGNATURE)


# S3: the REST authentication examples, and the Version 4 GET Object example.
@pytest.mark.parametrize("string_to_sign, signature", [
    (b"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
     "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    (b"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
     "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
    (b"AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
     b"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
])
def test_s3_matches_awss_examples(string_to_sign, signature):
    assert s3_signature(SECRET, string_to_sign) == signature
    assert s3_signature(V4_SUITE_SECRET, string_to_sign) != signature


@pytest.mark.parametrize("string_to_sign", [
    b"AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request",
    b"AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/iam/aws4_request\nab",
    b"AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws5_request\nab",
    b"AWS4-HMAC-SHA256\n20130601T000000Z\n20130524/us-east-1/s3/aws4_request\nab",
    b"AWS4-ECDSA-P256-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\nab",
])
def test_s3_refuses_a_v4_string_to_sign_that_is_not_well_formed(string_to_sign):
    with pytest.raises(BadSignature):
        s3_signature(SECRET, string_to_sign)
