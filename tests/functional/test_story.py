"""The product's story end to end, through the CLI and the shipped paste pipelines."""
from builders import admin_headers, cert_environ, external_auth


def test_certificate_user_story(deployment):
    deployment.cli("user", "create", "alice", "--project", "demo", "--role", "member")

    issued = deployment.main.post_json("/v3/auth/tokens", external_auth("demo"),
                                       extra_environ=cert_environ("alice"), status=201)
    token = issued.headers["X-Subject-Token"]
    assert issued.json["token"]["methods"] == ["external"]
    assert issued.json["token"]["project"]["name"] == "demo"

    validated = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token))
    assert [role["name"] for role in validated.json["token"]["roles"]] == ["member", "reader"]
    assert validated.json["token"]["user"]["name"] == "alice"

    deployment.admin.delete("/v3/auth/tokens", headers=admin_headers(token), status=204)
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=404)

    refused = deployment.main.post_json("/v3/auth/tokens", external_auth("demo"),
                                        headers={"Remote-User": "alice"}, status=401)
    assert refused.json["error"]["code"] == 401
