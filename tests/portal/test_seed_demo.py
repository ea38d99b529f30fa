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


def test_seed_demo_fills_the_marketplace_with_installs_reviews_and_a_closed_period(var_dir, settings):
    from apikeys.models import RequestLog
    from marketplace.models import BillingPeriod, Installation, Integration, LedgerEntry, Review, Statement

    settings.MEDIA_ROOT = var_dir / "media"
    report = _seed_json()
    published = Integration.objects.filter(status=Integration.Status.PUBLISHED)
    assert report["marketplace"]["integrations"] == published.count() == 12
    assert published.values("category").distinct().count() >= 5
    assert published.filter(featured_rank__isnull=False).count() == 3
    assert all(i.images.filter(kind="logo").exists() for i in published)
    installs = Installation.objects.filter(status=Installation.Status.ACTIVE)
    assert installs.count() == report["marketplace"]["installations"] > 20
    assert installs.filter(environment="live").exists() and installs.filter(environment="test").exists()
    assert RequestLog.objects.filter(grant__isnull=False).count() == sum(i.call_count for i in installs)
    reviews = Review.objects.all()
    assert reviews.count() >= 8 and reviews.exclude(reply_body="").exists()
    for integration in published.filter(rating_count__gt=0):
        ratings = [r.rating for r in reviews.filter(integration=integration)]
        assert integration.rating_count == len(ratings) and integration.rating_sum == sum(ratings)
    period = BillingPeriod.objects.get(status=BillingPeriod.Status.CLOSED)
    assert report["marketplace"]["closed_periods"] == [str(period)]
    partner = Organization.objects.get(slug="ledgerly")
    statement = Statement.objects.get(organization=partner, period=period, kind="partner")
    assert statement.total_minor > 0 and statement.payout is not None
    assert statement.csv_file.read().decode().count("\n") > 3
    shares = LedgerEntry.objects.filter(period=period, kind=LedgerEntry.Kind.PARTNER_SHARE)
    assert shares.exists() and all(entry.organization_id == partner.pk for entry in shares)

    counts = (Integration.objects.count(), Installation.objects.count(), Review.objects.count())
    counts += (LedgerEntry.objects.count(), Statement.objects.count(), RequestLog.objects.count())
    _seed_json()
    assert counts == (
        Integration.objects.count(),
        Installation.objects.count(),
        Review.objects.count(),
        LedgerEntry.objects.count(),
        Statement.objects.count(),
        RequestLog.objects.count(),
    )
