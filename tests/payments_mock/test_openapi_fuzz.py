"""schemathesis over every operation of the API, with a budget that fits CI.

The schema is the one the portal serves (`/api/v1/schema`), loaded through the WSGI
application, and the requests go through that application in-process, so they reach
the real views with a key that holds every scope. Each operation gets a few examples,
derandomized so a run replays exactly; every answer must be below 500, use a documented
status code and content type, and carry a body that matches its declared schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Plan
from accounts.permissions import BY_CODE
from apikeys.services import apikey_create
from portal.wsgi import application

EXAMPLES_PER_OPERATION = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes "old" connections when a request starts and finishes, and
    inside a test's transaction PostgreSQL's connection always looks old; Django's own
    test client unhooks those signals for the same reason, so do it here too."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_key(world, settings):
    """A test-mode key with every scope, on a plan the fuzz run cannot exhaust."""
    settings.APIKEY_IP_REQUESTS_PER_MINUTE = 1_000_000
    world.org.plan = Plan.objects.create(code="fuzz", name="Fuzz", requests_per_hour=1_000_000, burst=100_000)
    world.org.save(update_fields=["plan"])
    _, secret = apikey_create(
        organization=world.org,
        actor_membership=world.membership(world.owner),
        name="fuzz",
        environment="test",
        scopes=sorted(BY_CODE),
        rate_limit_per_hour=1_000_000,
    )
    return secret


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema(case, fuzz_key):
    # `?fields=` trims the rows of a list on purpose, so their shape is not the declared one.
    checks = CHECKS if not (case.query or {}).get("fields") else CHECKS[:-1]
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_key}"}, checks=checks)
