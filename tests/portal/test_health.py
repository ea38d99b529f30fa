import pytest


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_every_component(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_names_the_failing_component(client, monkeypatch):
    from portal import health

    monkeypatch.setitem(health.CHECKS, "cache", lambda: "connection refused")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["checks"]["cache"] == "failing: connection refused"


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz")
    assert response["X-Request-Id"].startswith("req_")


def test_a_callers_request_id_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-Id"] == "abc-123"


def test_an_unsafe_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="evil\nheader" + "x" * 200)
    assert response["X-Request-Id"].startswith("req_")


@pytest.mark.django_db
def test_an_unknown_api_path_answers_with_a_problem_document(client):
    response = client.get("/api/v1/nothing-here", HTTP_X_REQUEST_ID="rid-1")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not found"
    assert body["request_id"] == "rid-1"
    assert body["type"].endswith("/problems/not-found")


@pytest.mark.django_db
def test_every_problem_type_has_a_page(client):
    from portal.problems import PROBLEM_TYPES

    listing = client.get("/problems/")
    assert listing.status_code == 200
    for slug, title in PROBLEM_TYPES.items():
        assert title in listing.content.decode()
        assert client.get(f"/problems/{slug}").status_code == 200
    assert client.get("/problems/no-such-type").status_code == 404


def test_log_lines_are_json_with_the_request_id():
    import json
    import logging

    from portal.logging import JsonFormatter, RequestIdFilter
    from portal.request_context import request_id_var

    record = logging.makeLogRecord({"name": "portal.test", "msg": "hello %s", "args": ("world",), "levelno": 20})
    record.levelname = "INFO"
    record.org = "org_1"
    token = request_id_var.set("req_abc")
    try:
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello world"
    assert line["request_id"] == "req_abc"
    assert line["level"] == "info"
    assert line["org"] == "org_1"
