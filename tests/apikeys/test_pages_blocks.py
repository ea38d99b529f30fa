"""The blocked keys and addresses page: org admins see penalty blocks on their keys and on
the addresses that used them, and lift them; nobody sees or lifts anyone else's."""

from __future__ import annotations

import pytest

from accounts.models import AuditLog
from apikeys.models import RequestLog
from apikeys.ratelimit import block_list, limiter


@pytest.fixture(autouse=True)
def quick_penalties(settings):
    settings.APIKEY_PENALTY_THRESHOLD = 2


def _block(subject: str) -> None:
    while not limiter.strike(subject):
        pass


def _used_from(world, key, ip: str, org=None) -> None:
    RequestLog.objects.create(
        organization=org or world.org,
        api_key=key,
        route="/api/v1/keys/current",
        method="GET",
        status=200,
        latency_ms=3,
        ip=ip,
    )


@pytest.fixture
def as_user(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


def test_only_members_with_ip_blocks_manage_open_the_page(world, as_user):
    assert as_user(world.owner).get("/keys/blocked/").status_code == 200
    assert as_user(world.admin).get("/keys/blocked/").status_code == 200
    assert as_user(world.teammate).get("/keys/blocked/").status_code == 403
    assert as_user(world.read_only).post("/keys/blocked/", {"subject": "ip:203.0.113.7"}).status_code == 403


def test_it_lists_blocked_keys_and_addresses_of_the_organisation(world, as_user, make_key):
    key, _ = make_key(name="Hammering job")
    _used_from(world, key, "203.0.113.7")
    _block(f"key:{key.pk}")
    _block("ip:203.0.113.7")
    _block("ip:198.51.100.1")  # never used our keys: not ours to see
    html = as_user(world.admin).get("/keys/blocked/").content.decode()
    assert "Hammering job" in html and f"pk_test_{key.lookup_id}" in html
    assert "203.0.113.7" in html
    assert "198.51.100.1" not in html
    assert html.count("Lift block") == 2


def test_nothing_blocked_says_so(world, as_user, make_key):
    key, _ = make_key()
    _used_from(world, key, "203.0.113.7")
    html = as_user(world.owner).get("/keys/blocked/").content.decode()
    assert "Nothing is blocked." in html and "1 active key" in html and "1 address " in html


def test_lifting_a_block_ends_it_and_is_audited(world, as_user, make_key):
    key, _ = make_key()
    _used_from(world, key, "203.0.113.7")
    _block("ip:203.0.113.7")
    _block(f"key:{key.pk}")
    client = as_user(world.owner)
    response = client.post("/keys/blocked/", {"subject": "ip:203.0.113.7"}, follow=True)
    assert "Lifted the block on the address 203.0.113.7." in response.content.decode()
    response = client.post("/keys/blocked/", {"subject": f"key:{key.pk}"}, follow=True)
    assert "Lifted the block on the key" in response.content.decode()
    assert block_list(["ip:203.0.113.7", f"key:{key.pk}"]) == []
    assert AuditLog.objects.filter(organization=world.org, action="ratelimit.block_lifted").count() == 2


def test_other_organisations_keys_and_addresses_are_404(world, as_user, make_key):
    theirs, _ = make_key(user=world.outsider, org=world.outsider_org)
    _used_from(world, theirs, "192.0.2.50", org=world.outsider_org)
    _block(f"key:{theirs.pk}")
    _block("ip:192.0.2.50")
    client = as_user(world.owner)
    assert client.post("/keys/blocked/", {"subject": f"key:{theirs.pk}"}).status_code == 404
    assert client.post("/keys/blocked/", {"subject": "ip:192.0.2.50"}).status_code == 404
    assert client.post("/keys/blocked/", {"subject": "user:1"}).status_code == 404
    assert {b.subject for b in block_list([f"key:{theirs.pk}", "ip:192.0.2.50"])} == {
        f"key:{theirs.pk}",
        "ip:192.0.2.50",
    }
