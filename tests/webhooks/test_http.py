"""The outbound module: one send, no redirects, 4 KB cap, error classes."""

import socket
import threading

import pytest

from portal.lib import ssrf
from tests.webhooks.conftest import Receiver, start_receiver
from webhooks import http


@pytest.fixture
def server():
    servers = []

    def _start(receiver: Receiver) -> Receiver:
        servers.append(start_receiver(receiver))
        return receiver

    yield _start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(200, ""), (204, ""), (301, "3xx"), (302, "3xx"), (400, "4xx"), (410, "4xx"), (429, "4xx"), (500, "5xx"),
     (503, "5xx")],
)  # fmt: skip
def test_statuses_are_classified(status, error_class):
    assert http.classify_status(status) == error_class


def test_it_posts_the_body_with_our_headers_to_the_checked_address(server):
    got = server(Receiver())
    result = http.post(url=got.url, headers={"webhook-id": "evt_1"}, body=b'{"a":1}')
    assert result.ok and result.status_code == 200 and result.body == b"ok"
    request = got.requests[0]
    assert request.body == b'{"a":1}'
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == got.url.split("/")[2]


def test_a_redirect_to_a_private_address_is_not_followed(server):
    target = server(Receiver())
    redirector = server(Receiver(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    local = server(Receiver(status=302, headers={"Location": target.url}))
    result = http.post(url=redirector.url, headers={}, body=b"{}")
    assert (result.ok, result.status_code, result.error_class) == (False, 302, "3xx")
    result = http.post(url=local.url, headers={}, body=b"{}")
    assert result.error_class == "3xx"
    assert target.requests == []  # the Location was never visited


def test_only_the_first_4_kb_of_the_response_is_read(server):
    got = server(Receiver(body=b"x" * 100_000))
    result = http.post(url=got.url, headers={}, body=b"{}")
    assert result.ok and len(result.body) == http.MAX_RESPONSE_BYTES


def test_server_errors_keep_retry_after(server):
    got = server(Receiver(status=503, headers={"Retry-After": "120"}, body=b"busy"))
    result = http.post(url=got.url, headers={}, body=b"{}")
    assert (result.error_class, result.retry_after, result.body) == ("5xx", 120, b"busy")


def test_a_closed_port_is_a_connection_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = http.post(url=f"http://127.0.0.1:{port}/", headers={}, body=b"{}")
    assert result.error_class == "connection" and result.status_code is None


def test_an_unresolvable_name_is_a_dns_error(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(ssrf, "system_resolver", fail)
    assert http.post(url="http://hooks.invalid/", headers={}, body=b"{}").error_class == "dns"


def test_a_name_resolving_to_a_private_address_is_blocked_in_production(settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["127.0.0.1"])
    result = http.post(url="http://looks-public.example/", headers={}, body=b"{}")
    assert result.error_class == "blocked"


def test_tls_to_a_plain_http_server_is_a_tls_error(server):
    got = server(Receiver())
    result = http.post(url=got.url.replace("http://", "https://"), headers={}, body=b"{}")
    assert result.error_class == "tls"


def test_a_slow_receiver_is_a_timeout(server, monkeypatch):
    monkeypatch.setattr(http, "TOTAL_TIMEOUT", 0.3)
    release = threading.Event()

    def slow(received):
        release.wait(5)
        return 200, {}, b"late"

    got = server(Receiver(respond=slow))
    try:
        result = http.post(url=got.url, headers={}, body=b"{}")
    finally:
        release.set()
    assert result.error_class == "timeout" and not result.ok
