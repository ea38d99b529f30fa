from django.core.management import call_command


def test_the_openapi_schema_builds_and_validates_without_a_warning(tmp_path, db):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/keys", "/api/v1/payments", "/api/v1/webhook-endpoints", "/api/v1/oauth-applications"):
        assert f"{path}:" in text
