"""Webhooks in a real browser: create an endpoint pointed at the built-in test receiver,
send a test event, watch it arrive (signature verified), retry it, and render every
webhooks page at desktop and phone widths without horizontal overflow."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_fits, shot, sign_in_as
from tests.factories import make_org, make_user
from webhooks.models import Delivery


@pytest.fixture
def owner(settings, live_server, transactional_db):
    settings.PORTAL_BASE_URL = live_server.url
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    user = make_user("hooks@acme.test", full_name="Hook Owner")
    make_org("Hook Corp", owner=user)
    return user


def test_an_owner_sends_a_test_event_to_the_built_in_receiver_and_retries_it(page, new_page, live_server, owner):
    sign_in_as(page, live_server, owner)
    page.goto("/webhooks/")
    shot(page, "webhooks-endpoints-empty")
    page.click("text=Test receiver")
    receiver_url = page.inner_text("#receiver-url").strip()
    assert "/webhooks/receiver/whrcv_" in receiver_url
    page.click("text=Add an endpoint for it")
    assert page.input_value("input[name=url]") == receiver_url
    page.fill("input[name=description]", "Built-in receiver")
    page.click("button:has-text('Create endpoint')")
    page.wait_for_selector("text=Endpoint created")
    shot(page, "webhooks-endpoint")
    page.select_option("select[name=type]", "payment.succeeded")
    page.click("button:has-text('Send test event')")
    page.wait_for_selector("text=Test event sent")
    page.wait_for_selector("[data-delivery] .badge-success")

    # The receiver page shows it, with a verified signature, and keeps refreshing.
    page.click("text=Test receiver")
    page.wait_for_selector("text=Signature valid")
    assert page.locator("#received-list details").count() == 1
    shot(page, "webhooks-receiver")

    # Retry the delivery from its page: a second attempt, the same webhook-id.
    delivery = Delivery.objects.get()
    page.goto(f"/webhooks/deliveries/{delivery.public_id}/")
    shot(page, "webhooks-delivery")
    assert page.locator("text=webhook-signature").count() >= 1
    page.click("button:has-text('Retry now')")
    page.wait_for_selector("text=Retry queued")
    page.wait_for_selector("details.wh-attempt >> nth=1")
    delivery.refresh_from_db()
    assert delivery.attempt_count == 2 and delivery.status == "succeeded"
    page.goto("/webhooks/receiver/")
    page.wait_for_function("document.querySelectorAll('#received-list details').length === 2")
    ids = page.eval_on_selector_all("#received-list details", "els => els.map(e => e.dataset.webhookId)")
    assert len(set(ids)) == 1 and ids[0] == delivery.webhook_id


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_webhooks_page_fits_the_screen(new_page, live_server, owner, phone, django_capture_on_commit_callbacks):
    from webhooks import services

    org = owner.memberships.get().organization
    endpoint = services.endpoint_create(
        organization=org,
        actor=owner,
        livemode=False,
        url=services.receiver_url(services.receiver_for(organization=org)),
    )
    services.endpoint_send_test(endpoint=endpoint, actor=owner)
    delivery = Delivery.objects.get()
    page = new_page(phone=phone)
    sign_in_as(page, live_server, owner)
    pages = {
        "webhooks-endpoints": "/webhooks/",
        "webhooks-endpoint-form": "/webhooks/endpoints/new/",
        "webhooks-endpoint": f"/webhooks/endpoints/{endpoint.public_id}/",
        "webhooks-endpoint-edit": f"/webhooks/endpoints/{endpoint.public_id}/edit/",
        "webhooks-delivery": f"/webhooks/deliveries/{delivery.public_id}/",
        "webhooks-events": "/webhooks/events/",
        "webhooks-event": f"/webhooks/events/{delivery.event.public_id}/",
        "webhooks-receiver": "/webhooks/receiver/",
        "webhooks-docs": "/webhooks/docs/",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, path
        assert_fits(page)
        shot(page, name)
    page.goto(f"/webhooks/endpoints/{endpoint.public_id}/")
    page.click("button:has-text('Reveal secret')")
    page.wait_for_selector("[data-secret]")
    assert page.inner_text("[data-secret]").startswith("whsec_")
    assert_fits(page)
    shot(page, "webhooks-secret")
