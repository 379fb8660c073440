"""What certificate-bound tokens cost validation: keystone_lite in process, binding on vs off.

    python bench/binding.py --out RESULT.json --off CONFIG --on CONFIG

Both deployments are the same but for ``[cert_auth] bind_tokens``, and both get the same
requests: every token is earned through a client certificate (the dev PKI's, exported in the
environ as mod_ssl does: ``SSL_CLIENT_CERT`` and the rest), and the validating caller presents
its own token over its certificate, so that with binding on each validation also checks the
caller's binding (and renders the subject's). The runs are interleaved (one of each in turn),
so that noise on shared cores hits both alike. Writes for ``off`` and ``on``, per operation, the
median ops/s, p50, p99 and CPU ms per call over the runs.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

import operations
import targets
from driver import Operation, call, measure_interleaved


def certificate_environs(directory: str) -> dict:
    """{user: the environ mod_ssl gives a request over that user's certificate}."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from keystone_lite import pki, tls_environ

    pki.ensure_ca(directory)
    environs = {}
    for user in (operations.ADMIN, operations.USER):
        with open(pki.issue_client_certificate(directory, user).certificate, "rb") as handle:
            der = x509.load_pem_x509_certificate(handle.read()).public_bytes(Encoding.DER)
        environs[user] = tls_environ.client_environ(der, "SSL_CLIENT_S_DN_UID")
    return environs


def issue(app, user: str, project: str, environ: dict) -> str:
    reply = call(app, "POST", operations.TOKENS, document=operations.external_auth(project),
                 extra=environ, expect=201)
    return reply.headers["x-subject-token"]


class Validate(Operation):
    """GET /v3/auth/tokens by the admin, over the admin's certificate."""

    def __init__(self, admin, caller: str, subject: str, environ: dict, query: str = ""):
        self.admin = admin
        self.path = operations.TOKENS + query
        self.headers = {"X-Auth-Token": caller, "X-Subject-Token": subject}
        self.environ = environ

    def __call__(self):
        self.reply()

    def reply(self):
        return call(self.admin, "GET", self.path, headers=self.headers, extra=self.environ,
                    expect=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--off", required=True, help="config with bind_tokens = false")
    parser.add_argument("--on", required=True, help="config with bind_tokens = true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        environs = certificate_environs(os.path.join(directory, "pki"))
    benchmarked = {}
    for name, config in (("off", args.off), ("on", args.on)):
        public, admin = targets.build("lite", config)
        caller = issue(public, operations.ADMIN, operations.ADMIN_PROJECT,
                       environs[operations.ADMIN])
        subject = issue(public, operations.USER, operations.USER_PROJECT,
                        environs[operations.USER])
        environ = environs[operations.ADMIN]
        body = Validate(admin, caller, subject, environ).reply().json()["token"]
        if ("oauth2_credential" in body) != (name == "on"):
            raise SystemExit(f"{config}: bind_tokens is not {name}")
        benchmarked[name] = {
            "validate": Validate(admin, caller, subject, environ),
            "validate_nocatalog": Validate(admin, caller, subject, environ, "?nocatalog")}
    result = measure_interleaved(benchmarked, args.iterations, args.runs, args.warmup)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
