import io
import json

import pytest
from django.core.management import call_command

from accounts.models import Membership, Organization, PartnerProfile, User
from apikeys.authentication import key_cache
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def _seed_json() -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_creates_every_role_and_both_kinds_of_organisation(var_dir):
    report = _seed_json()
    roles = {u["role"] for u in report["users"]}
    assert {"owner", "admin", "developer", "read_only"} <= roles
    kinds = {o["kind"] for o in report["organizations"]}
    assert kinds == {"developer", "partner"}
    partner = Organization.objects.get(slug="ledgerly")
    assert partner.partner_profile.verification_status == PartnerProfile.Verification.VERIFIED
    staff = User.objects.get(email="staff@portal.test")
    assert staff.is_staff and staff.check_password(report["password"])


def test_seed_demo_is_idempotent_and_keeps_the_demo_keys(var_dir):
    first = _seed_json()
    counts = (User.objects.count(), Organization.objects.count(), Membership.objects.count(), ApiKey.objects.count())
    second = _seed_json()
    assert counts == (
        User.objects.count(),
        Organization.objects.count(),
        Membership.objects.count(),
        ApiKey.objects.count(),
    )
    assert [k["key"] for k in first["api_keys"]] == [k["key"] for k in second["api_keys"]]
    assert {k["environment"] for k in first["api_keys"]} == {"test", "live"}


def test_the_printed_demo_keys_call_the_api(client, var_dir):
    report = _seed_json()
    key_cache.clear()
    for key in report["api_keys"]:
        response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {key['key']}")
        assert response.status_code == 200, (key["name"], response.content)


def test_a_demo_key_whose_secret_was_lost_is_rotated_to_a_working_one(client, var_dir):
    first = _seed_json()
    (var_dir / "demo-secrets.json").unlink()
    second = _seed_json()
    assert [k["id"] for k in first["api_keys"]] == [k["id"] for k in second["api_keys"]]
    assert first["api_keys"][0]["key"] != second["api_keys"][0]["key"]
    key_cache.clear()
    response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {second['api_keys'][0]['key']}")
    assert response.status_code == 200


def test_the_printed_demo_oauth_client_gets_a_token_that_calls_the_api(client, var_dir):
    _seed_json()
    report = _seed_json()  # the second run still prints a working secret
    app = report["oauth_applications"][0]
    token = client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert token.status_code == 200, token.content
    access = token.json()["access_token"]
    response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code in {200, 403}, response.content
    assert response.status_code != 401
