"""Customers: the life cycle, the list envelope, metadata rules, modes and events."""

from __future__ import annotations

import pytest

CUSTOMERS = "/api/v1/customers"


def test_a_customer_can_be_created_read_updated_listed_and_deleted(api, events):
    created = api("post", CUSTOMERS, {"email": "jenny@example.com", "name": "Jenny", "metadata": {"crm": "42"}})
    assert created.status_code == 201
    body = created.json()
    assert body["id"].startswith("cus_") and body["object"] == "customer" and body["livemode"] is False
    assert body["metadata"] == {"crm": "42"}

    assert api("get", f"{CUSTOMERS}/{body['id']}").json()["email"] == "jenny@example.com"
    updated = api("patch", f"{CUSTOMERS}/{body['id']}", {"name": "Jenny Rosen", "metadata": {}})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Jenny Rosen" and updated.json()["metadata"] == {}

    listed = api("get", CUSTOMERS).json()
    assert [row["id"] for row in listed["data"]] == [body["id"]]
    assert listed["meta"]["total"] == 1

    deleted = api("delete", f"{CUSTOMERS}/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "customer", "deleted": True}
    assert api("get", f"{CUSTOMERS}/{body['id']}").status_code == 404
    assert events() == ["customer.created", "customer.updated", "customer.deleted"]


def test_the_list_sorts_filters_and_pages(api, django_assert_max_num_queries):
    for name, email in (("charlie", "c@x.test"), ("alpha", "a@x.test"), ("bravo", "b@x.test")):
        api("post", CUSTOMERS, {"name": name, "email": email})
    api("get", CUSTOMERS)  # warm the key cache
    with django_assert_max_num_queries(3):
        page = api("get", f"{CUSTOMERS}?sort=name:asc&per_page=2").json()
    assert [row["name"] for row in page["data"]] == ["alpha", "bravo"]
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2}
    assert api("get", f"{CUSTOMERS}?email=B@X.test").json()["data"][0]["name"] == "bravo"
    assert api("get", f"{CUSTOMERS}?search=arl").json()["meta"]["total"] == 1
    assert set(api("get", f"{CUSTOMERS}?fields=name").json()["data"][0]) == {"id", "name"}
    assert api("get", f"{CUSTOMERS}?sort=metadata:asc").status_code == 400


def test_unicode_metadata_round_trips(api):
    metadata = {"note": "Grüße aus Köln ✓", "名前": "山田太郎", "emoji": "💳🚀"}
    body = api("post", CUSTOMERS, {"name": "Zoë Ångström", "metadata": metadata}).json()
    assert api("get", f"{CUSTOMERS}/{body['id']}").json()["metadata"] == metadata
    assert body["name"] == "Zoë Ångström"


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ({"k" * 41: "v"}, "1 to 40 characters"),
        ({"k": "v" * 501}, "longer than 500"),
        ({"k": 5}, "must be a string"),
        ({"k": {"nested": "x"}}, "must be a string"),
        (["not", "a", "map"], "object of string keys"),
        ({"k": "nul\x00"}, "NUL"),
    ],
)
def test_bad_metadata_is_a_field_error(api, metadata, message):
    response = api("post", CUSTOMERS, {"name": "x", "metadata": metadata})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert message in " ".join(response.json()["errors"]["metadata"])


def test_a_bad_email_is_a_field_error(api):
    response = api("post", CUSTOMERS, {"email": "not-an-email"})
    assert response.status_code == 400 and "email" in response.json()["errors"]
