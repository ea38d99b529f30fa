import pytest


@pytest.mark.django_db
def test_pages_carry_a_self_only_content_security_policy(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.django_db
def test_pages_refuse_framing_and_sniffing(client):
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.django_db
def test_templates_load_nothing_from_outside_the_machine(client):
    body = client.get("/").content.decode()
    assert "http://" not in body.replace("http://testserver", "")
    assert "https://" not in body
