"""API keys and OAuth applications in a real browser: create a key through the form, copy
its secret once, call the API with it, revoke it in the UI and watch the API refuse it;
and render every credentials page at desktop and phone widths without horizontal overflow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import services
from apikeys.models import ApiKey, RequestLog
from apikeys.ratelimit import limiter
from tests.e2e.conftest import fits, shot, sign_in_as
from tests.factories import make_org, make_user


@pytest.fixture
def acme(transactional_db, settings):
    settings.APIKEY_PENALTY_THRESHOLD = 2
    limiter.local.reset()
    owner = make_user("olivia@acme.test", full_name="Olivia Owner")
    org = make_org("Acme Payments", owner=owner)
    return owner, org


def _create_key_in_form(page, name: str) -> str:
    page.goto("/keys/new/")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=description]", "Made in the browser test")
    page.check("input[name=environment][value=test]")
    page.click(".scope-group summary:has-text('API keys')")
    page.check("input[name=scopes][value='keys:read']")
    page.check("input[name=expiry][value='90']")
    page.fill("input[name=allowed_countries]", "")
    page.fill("input[name=rate_limit_per_hour]", "1000")
    page.click("button:has-text('Create key')")
    page.wait_for_selector("text=You won't see this key again.")
    return page.locator("#new-secret").inner_text().strip()


def test_a_member_creates_a_key_uses_it_once_copied_and_revokes_it(new_page, live_server, acme):
    owner, org = acme
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in_as(page, live_server, owner)

    secret = _create_key_in_form(page, "Browser key")
    assert secret.startswith("pk_test_")
    page.click("button[data-copy='new-secret']")
    page.wait_for_selector("button[data-copy='new-secret']:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "key-created")

    api = page.request.get(f"{live_server.url}/api/v1/keys/current", headers={"Authorization": f"Bearer {secret}"})
    assert api.status == 200, api.text()
    assert api.headers["x-ratelimit-limit"] and api.headers["x-ratelimit-remaining"]
    assert "ratelimit-policy" in api.headers

    key = ApiKey.objects.get(organization=org, name="Browser key")
    page.click("text=I've stored it — show the key")
    page.wait_for_selector("h1:has-text('Browser key')")
    assert secret not in page.content()
    assert f"pk_test_{key.lookup_id}…{key.last4}" in page.content()

    page.fill("input[name=reason]", "Browser test done")
    page.click("button:has-text('Revoke key')")  # the data-confirm dialog is accepted
    page.wait_for_selector("text=is revoked")
    assert page.locator(".badge-danger", has_text="Revoked").first.is_visible()
    refused = page.request.get(f"{live_server.url}/api/v1/keys/current", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
    assert refused.headers["content-type"].startswith("application/problem+json")


def _fill_the_world(owner, org) -> dict:
    membership = owner.memberships.get(organization=org)
    template = services.key_template_create(
        organization=org,
        actor_membership=membership,
        name="Reporting (read-only)",
        environment="test",
        scopes=["reports:read", "transactions:read"],
        expires_in_days=90,
        rate_limit_per_hour=600,
        allowed_ips=["198.51.100.0/24"],
    )
    services.key_policy_update(
        organization=org,
        actor_membership=membership,
        name_pattern=r"(prod|staging|dev)-[a-z0-9-]+",
        name_message="Start the name with prod-, staging- or dev-.",
    )
    keys = []
    for name, environment in (("prod-billing", "live"), ("dev-checkout-with-a-rather-long-name", "test")):
        key, _ = services.apikey_create(
            organization=org,
            actor_membership=membership,
            name=name,
            environment=environment,
            scopes=["payments:read", "payments:write", "refunds:write"],
            allowed_ips=["203.0.113.0/24"],
        )
        keys.append(key)
    now = timezone.now()
    for n in range(8):
        RequestLog.objects.create(
            organization=org,
            api_key=keys[0],
            livemode=True,
            route="/api/v1/payments/{payment_id}/refunds",
            method="POST" if n % 2 else "GET",
            status=(200, 201, 429, 404)[n % 4],
            latency_ms=12 + n,
            ip="203.0.113.7",
            country="GB",
            created_at=now - timedelta(minutes=n),
        )
    app, _ = services.oauth_application_create(
        organization=org,
        actor_membership=membership,
        name="Partner dashboard",
        environment="test",
        grant_type="authorization_code",
        redirect_uris=["https://partner.example/oauth/callback"],
        scopes=["payments:read"],
    )
    for subject in (f"key:{keys[0].pk}", "ip:203.0.113.7"):
        while not limiter.strike(subject):
            pass
    return {"template": template, "key": keys[0], "app": app}


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_credentials_page_renders_without_overflow(new_page, live_server, acme, phone):
    owner, org = acme
    objects = _fill_the_world(owner, org)
    page = new_page(phone=phone)
    sign_in_as(page, live_server, owner)
    pages = {
        "keys": ("/keys/", "API keys"),
        "key-create": (f"/keys/new/?template={objects['template'].public_id}", "Create an API key"),
        "key-detail": (f"/keys/{objects['key'].public_id}/", "prod-billing"),
        "key-templates": ("/keys/templates/", "Key templates"),
        "naming-policy": ("/keys/naming-policy/", "Key naming policy"),
        "oauth-apps": ("/oauth-apps/", "OAuth applications"),
        "oauth-app-create": ("/oauth-apps/new/", "New OAuth application"),
        "oauth-app-detail": (f"/oauth-apps/{objects['app'].public_id}/", "Partner dashboard"),
        "blocks": ("/keys/blocked/", "Blocked keys and addresses"),
    }
    for name, (path, heading) in pages.items():
        response = page.goto(path)
        assert response.status == 200, path
        assert page.locator("h1", has_text=heading).is_visible(), path
        assert fits(page), f"{path} overflows at {'phone' if phone else 'desktop'} width"
        shot(page, name)

    # The key list's bulk form, driven like a person would.
    page.goto("/keys/")
    page.check(f"input[name=keys][value='{objects['key'].public_id}']")
    page.select_option("select[name=action]", "extend")
    page.select_option("select[name=expiry_days]", "30")
    page.click("button:has-text('Apply to selected')")
    page.wait_for_selector("text=1 key will expire in 30 days.")

    # A freshly created key's page, on this width too.
    secret = _create_key_in_form(page, "dev-phone-key" if phone else "dev-desktop-key")
    assert fits(page)
    assert page.locator(".secret code").inner_text().strip() == secret
    shot(page, "key-created")
