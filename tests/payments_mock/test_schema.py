"""The OpenAPI schema documents every sandbox operation with examples; list pages stay cheap."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from payments_mock.api import urls as sandbox_urls

SANDBOX_PREFIXES = tuple("/api/v1/" + p.pattern._route.split("<")[0].rstrip("/") for p in sandbox_urls.urlpatterns)


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _sandbox_operations(schema):
    for path, methods in schema["paths"].items():
        if path.startswith(SANDBOX_PREFIXES):
            for method, operation in methods.items():
                yield path, method, operation


def test_every_sandbox_route_is_in_the_schema(schema):
    documented = {path for path, _, _ in _sandbox_operations(schema)}
    assert len(documented) == len(sandbox_urls.urlpatterns)


def test_every_sandbox_operation_has_examples_and_problem_answers(schema):
    for path, method, operation in _sandbox_operations(schema):
        assert "example" in str(operation), f"{method.upper()} {path} has no example"
        assert {"400", "403", "404"} <= set(operation["responses"]), f"{method.upper()} {path}"
        if method == "post":
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "Idempotency-Key" in names, f"POST {path} does not document Idempotency-Key"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers",
        "/api/v1/payments",
        "/api/v1/refunds",
        "/api/v1/bank_accounts",
        "/api/v1/transactions",
        "/api/v1/subscriptions",
        "/api/v1/invoices",
        "/api/v1/prices",
    ],
)
def test_list_pages_use_a_fixed_number_of_queries(api, pay, card, path, django_assert_max_num_queries):
    customer = api("post", "/api/v1/customers", {"name": "c"}).json()["id"]
    api("post", "/api/v1/customers", {"name": "d"})
    product = api("post", "/api/v1/products", {"name": "p"}).json()["id"]
    price = None
    for _ in range(3):
        paid = pay(customer=customer)
        api("post", "/api/v1/refunds", {"payment": paid["id"], "amount": 1})
        account = {"account_holder_name": "x", "routing_number": "110000000", "account_number": "1234"}
        api("post", "/api/v1/bank_accounts", account)
        monthly = {"product": product, "currency": "usd", "unit_amount": 100, "interval": "month"}
        price = api("post", "/api/v1/prices", monthly).json()["id"]
        api("post", "/api/v1/subscriptions", {"customer": customer, "price": price, "card": card()})
    api("get", path)  # warm the key cache
    with django_assert_max_num_queries(3):  # count, page, nothing per row
        response = api("get", f"{path}?per_page=100")
    assert response.json()["meta"]["total"] >= 2
