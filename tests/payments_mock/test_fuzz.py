"""A bounded fuzz run over every sandbox operation in the OpenAPI schema.

schemathesis is not among the pinned dependencies yet, so this generates requests from
the schema itself with a seeded random generator: well-formed bodies from the request
schemas, then the same bodies with fields swapped for hostile values (wrong types,
huge and negative numbers, unicode, NUL, deep nesting), unknown ids in the path.
Every answer must be below 500, and a JSON 2xx answer must carry the properties its
response schema declares, with the declared JSON types.
"""

from __future__ import annotations

import random

import pytest
from drf_spectacular.generators import SchemaGenerator

from payments_mock.api import urls as sandbox_urls

EXAMPLES_PER_OPERATION = 12
HOSTILE = [
    None,
    True,
    -1,
    0,
    10**30,
    1.5,
    "",
    "x" * 5000,
    "Grüße ✓ 名前 💳",
    "\x00",
    [],
    {},
    [[[[]]]],
    {"a": {"b": {}}},
]
ODD_QUERY_VALUES = ["-1", "1.5", "zz", "", "9" * 30, "ü", "%00", "9999-12-31", "0001-01-01"]
JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}
PREFIXES = tuple("/api/v1/" + p.pattern._route.split("<")[0].rstrip("/") for p in sandbox_urls.urlpatterns)


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if isinstance(node, dict) and "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, node["allOf"][0])
    return node


def _value(schema, node, rng, depth=0):
    node = _resolve(schema, node)
    if "enum" in node:
        return rng.choice(node["enum"])
    if "example" in node and rng.random() < 0.5:
        return node["example"]
    kind = node.get("type")
    if kind == "integer":
        return rng.randint(node.get("minimum", 1), min(node.get("maximum", 10_000), 10_000))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_value(schema, node.get("items", {}), rng, depth + 1) for _ in range(node.get("minItems", 1))]
    if kind == "object" and depth < 3:
        return {k: _value(schema, v, rng, depth + 1) for k, v in node.get("properties", {}).items()}
    return rng.choice(["abc", "usd", "2026-01-01", "tok_x", "Zoë"])


def _operations(schema):
    for path, methods in schema["paths"].items():
        if path.startswith(PREFIXES):
            for method, operation in methods.items():
                yield path, method, operation


def _check_shape(schema, operation, response, url):
    if response.status_code >= 300 or response.get("Content-Type") != "application/json" or "fields=" in url:
        return  # ?fields= trims rows on purpose
    declared = operation["responses"].get(str(response.status_code), {}).get("content", {})
    node = _resolve(schema, declared.get("application/json", {}).get("schema", {}))
    body = response.json()
    if "data" in body and "meta" in body:  # the list envelope wraps the declared item
        body = body["data"][0] if body["data"] else None
        node = _resolve(schema, node.get("properties", {}).get("data", node).get("items", node))
    if not isinstance(body, dict):
        return
    for name, spec in node.get("properties", {}).items():
        assert name in body, f"{operation['operationId']}: {name} missing"
        spec = _resolve(schema, spec)
        expected = JSON_TYPES.get(spec.get("type"))
        if body[name] is not None and expected and not spec.get("enum"):
            assert isinstance(body[name], expected), f"{operation['operationId']}: {name} is {body[name]!r}"


def test_no_operation_answers_5xx_or_breaks_its_schema(api, schema, card):
    rng = random.Random(20260105)  # a fixed seed: a failure replays exactly
    token = card()
    operations = list(_operations(schema))
    assert len(operations) >= 40
    seen: dict[int, int] = {}
    for path, method, operation in operations:
        body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for attempt in range(EXAMPLES_PER_OPERATION):
            url = path
            for name in [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]:
                url = url.replace("{" + name + "}", rng.choice(["nope", "pay_" + "x" * 20, "%00", "ü"]))
            body = _value(schema, body_schema, rng) if body_schema else None
            if isinstance(body, dict) and body and attempt % 2:
                body[rng.choice(list(body))] = rng.choice(HOSTILE)
            if isinstance(body, dict) and "card" in body and attempt % 3 == 0:
                body["card"] = token
            if method == "get" and attempt % 2:
                params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
                if params:
                    url += f"?{rng.choice(params)}={rng.choice(ODD_QUERY_VALUES)}"
            response = api(method, url, body if method != "get" else None)
            assert response.status_code < 500, f"{method.upper()} {url} {body!r} -> {response.status_code}"
            _check_shape(schema, operation, response, url)
            seen[response.status_code // 100] = seen.get(response.status_code // 100, 0) + 1
    # The generator reaches both sides: requests that work and requests that are refused.
    assert seen.get(2, 0) > 50 and seen.get(4, 0) > 100, seen


@pytest.mark.parametrize("path", ["/api/v1/payments/%00", "/api/v1/customers/cus_%00", "/api/v1/bank_accounts/ü"])
def test_impossible_ids_are_404_without_a_query(api, path, django_assert_max_num_queries):
    api("get", "/api/v1/test-cards")  # warm the key cache
    with django_assert_max_num_queries(0):
        assert api("get", path).status_code == 404


@pytest.mark.parametrize("query", ["transactions?q=%00", "customers?email=a%00b", "payments?status=%00"])
def test_a_nul_in_the_query_string_is_a_field_error(api, query):
    response = api("get", f"/api/v1/{query}")
    assert response.status_code == 400
    assert "NUL" in str(response.json()["errors"])
