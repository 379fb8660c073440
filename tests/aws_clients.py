"""AWS clients and the services that forward what they sign, for the tests of
``/v3/ec2tokens`` and ``/v3/s3tokens``: botocore signs requests exactly as an AWS client does;
``forwarded`` is what ec2-api sends of a request it received, ``signed_s3_request`` what
Swift's s3token sends."""
from __future__ import annotations

import base64
import hashlib
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

EC2_URL = "http://ec2.example.com:8788/"


def signed_ec2_request(credential: dict, how: str, url: str = EC2_URL, expires: int = 3600):
    """A DescribeInstances request signed by botocore: "v2", "v4" (Authorization header, a POST
    as botocore's EC2 client sends) or "v4-query" (a GET pre-signed for ``expires`` seconds)."""
    params = {"Action": "DescribeInstances", "Version": "2016-11-15",
              "InstanceId.1": "i-0123 45~6/7"}
    keys = botocore.credentials.Credentials(credential["access"], credential["secret"])
    if how == "v4-query":
        request = botocore.awsrequest.AWSRequest(method="GET", url=url, params=params)
        botocore.auth.SigV4QueryAuth(keys, "ec2", "RegionOne", expires=expires).add_auth(
            request)
    else:
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=url, data=params,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        signer = botocore.auth.SigV2Auth(keys) if how == "v2" else \
            botocore.auth.SigV4Auth(keys, "ec2", "RegionOne")
        signer.add_auth(request)
    return request.prepare()


def forwarded(prepared, access: str) -> dict:
    """What ec2-api sends to ec2tokens of a request it received: its parts, the signature
    taken out of the parameters or the Authorization header, the SHA-256 of the body."""
    split = urllib.parse.urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    params.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    headers = {**dict(prepared.headers.items()), "Host": split.netloc}  # as on the wire
    signature = params.pop("Signature", None) or params.get("X-Amz-Signature") or \
        headers["Authorization"].rpartition("Signature=")[2]
    return {"access": access, "signature": signature, "host": split.netloc,
            "verb": prepared.method, "path": split.path, "params": params,
            "headers": headers, "body_hash": hashlib.sha256(body).hexdigest()}


class Recording:
    """Keeps the string to sign a botocore signer signed (what s3api rebuilds itself)."""

    def __init__(self, signer):
        self.signer, self.string_to_sign = signer, None
        if isinstance(signer, botocore.auth.HmacV1Auth):
            original = signer.sign_string

            def sign_string(string_to_sign):
                self.string_to_sign = string_to_sign
                return original(string_to_sign)
            signer.sign_string = sign_string
        else:
            original = signer.signature

            def signature(string_to_sign, request):
                self.string_to_sign = string_to_sign
                return original(string_to_sign, request)
            signer.signature = signature


def signed_s3_request(credential: dict, how: str) -> dict:
    """What Swift's s3token sends to s3tokens for a GET of an object signed by botocore with
    the S3 REST signature ("v2") or Version 4 ("v4")."""
    keys = botocore.credentials.Credentials(credential["access"], credential["secret"])
    signer = botocore.auth.HmacV1Auth(keys) if how == "v2" else \
        botocore.auth.S3SigV4Auth(keys, "s3", "RegionOne")
    recording = Recording(signer)
    request = botocore.awsrequest.AWSRequest(
        method="GET", url="http://swift.example.com:8080/bucket/photos/puppy%20one.jpg",
        headers={"Range": "bytes=0-9"})
    signer.add_auth(request)
    authorization = request.headers["Authorization"]
    signature = authorization.rpartition(":")[2] if how == "v2" else \
        authorization.rpartition("Signature=")[2]
    string_to_sign = recording.string_to_sign.encode()
    return {"access": credential["access"], "signature": signature,
            "token": base64.urlsafe_b64encode(string_to_sign).decode()}
