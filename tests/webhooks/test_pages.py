"""The webhooks portal pages through the Django test client: endpoints, signing secrets, test
events, recovery, the delivery log, events, the built-in receiver and the docs, for each role,
for anonymous visitors and across organisations."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from tests.factories import add_member, make_user
from webhooks import catalogue, services
from webhooks.models import Delivery, Endpoint, Event, ReceivedRequest
from webhooks.views import PAGE_SIZE

PAYMENT = {"id": "pay_1", "amount": 2500, "currency": "EUR", "status": "succeeded"}
EVENT_ROW = re.compile(r"<td><code>(evt_\w+)</code></td>")


# Nothing listens on the discard port: a send that should not happen fails fast, without DNS.
# Tests that deliver point the endpoint at the local `receiver` (whose shutdown costs 0.5 s).
NOWHERE = "http://127.0.0.1:9/hook"


@dataclass
class Scene:
    """One organisation's webhooks: an endpoint, a delivery of a test event to it that failed for
    good, a recorded payment event not fanned out yet, and a request kept by the built-in receiver."""

    endpoint: Endpoint
    delivery: Delivery
    event: Event
    received: ReceivedRequest


def _scene(org, *, make_endpoint, url: str) -> Scene:
    endpoint = make_endpoint(
        url, org=org, description="Orders backend", event_types=["payment.succeeded"], headers={"X-Team": "payments"}
    )
    delivery = services.endpoint_send_test(endpoint=endpoint, actor=None)
    # Its on-commit send never runs inside the test's transaction; make it one that gave up.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED,
        next_attempt_at=None,
        completed_at=timezone.now(),
        attempt_count=8,
        last_status_code=500,
        last_error="HTTP 500",
    )
    delivery.refresh_from_db()
    event = services.event_record(organization=org, livemode=False, type="payment.succeeded", data=PAYMENT)
    received = services.receiver_store(
        receiver=services.receiver_for(organization=org), headers={"webhook-id": "msg_seen"}, body=b'{"seen":1}'
    )
    return Scene(endpoint, delivery, event, received)


@pytest.fixture
def ours(world, make_endpoint) -> Scene:
    return _scene(world.org, make_endpoint=make_endpoint, url=NOWHERE)


@pytest.fixture
def theirs(world, make_endpoint) -> Scene:
    return _scene(world.outsider_org, make_endpoint=make_endpoint, url=NOWHERE)


@pytest.fixture
def delivering(ours, receiver) -> Scene:
    """`ours`, its endpoint pointed at the local receiver."""
    services.endpoint_update(endpoint=ours.endpoint, actor=None, url=receiver.url)
    return ours


def _member_with(world, *permissions: str):
    """A member of the organisation whose custom role holds exactly `permissions`."""
    role = Role.objects.create(organization=world.org, name=" ".join(permissions), permissions=list(permissions))
    user = make_user()
    add_member(world.org, user, "custom", custom_role=role)
    return user


def _state() -> tuple:
    """Every row a webhooks page can write, to compare before and after a refused request."""
    return (
        list(Endpoint.objects.order_by("pk").values()),
        list(Delivery.objects.order_by("pk").values()),
        list(Event.objects.order_by("pk").values()),
        list(ReceivedRequest.objects.order_by("pk").values()),
        list(AuditLog.objects.order_by("pk").values_list("pk", "action")),
    )


def _endpoint_form(**overrides) -> dict:
    data = {
        "url": "https://hooks.acme.test/orders",
        "description": "Orders backend v2",
        "environment": "test",
        "event_types": ["payment.succeeded", "payment.failed"],
        "headers": "X-Team: payments\nX-Region: eu",
        "rate_limit_per_second": "5",
    }
    data.update(overrides)
    return data


def _field_error(response, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="id_{field}_error">([^<]*)</p>', response.content.decode())
    assert match, f"no error next to {field}"
    return html.unescape(match.group(1))


LIST_PAGES = ("webhooks:endpoint_list", "webhooks:event_list", "webhooks:receiver", "webhooks:docs")


def _object_pages(s: Scene) -> list[str]:
    """The GET pages of one endpoint, delivery and event."""
    return [
        reverse("webhooks:endpoint_detail", args=[s.endpoint.public_id]),
        reverse("webhooks:delivery_detail", args=[s.delivery.public_id]),
        reverse("webhooks:event_detail", args=[s.event.public_id]),
    ]


def _pages(s: Scene) -> list[str]:
    """Every GET page a member with webhooks:read may open."""
    return [reverse(name) for name in LIST_PAGES] + _object_pages(s)


def _manage_pages(s: Scene) -> list[str]:
    return [reverse("webhooks:endpoint_create"), reverse("webhooks:endpoint_edit", args=[s.endpoint.public_id])]


def _object_actions(s: Scene) -> list[tuple[str, dict]]:
    """Every POST action on one endpoint, delivery or event, each with input that would succeed
    for a member allowed to do it (the delete last, so the others still find the endpoint)."""
    endpoint, delivery = s.endpoint.public_id, s.delivery.public_id
    return [
        (reverse("webhooks:endpoint_edit", args=[endpoint]), _endpoint_form()),
        (reverse("webhooks:endpoint_toggle", args=[endpoint]), {}),
        (reverse("webhooks:endpoint_secret", args=[endpoint]), {}),
        (reverse("webhooks:endpoint_secret", args=[endpoint]), {"action": "rotate"}),
        (reverse("webhooks:endpoint_test", args=[endpoint]), {"type": "payment.succeeded"}),
        (reverse("webhooks:endpoint_recover", args=[endpoint]), {"since": "2000-01-01T00:00"}),
        (reverse("webhooks:delivery_retry", args=[delivery]), {}),
        (reverse("webhooks:event_detail", args=[s.event.public_id]), {"endpoint": endpoint}),
        (reverse("webhooks:endpoint_delete", args=[endpoint]), {}),
    ]


def _actions(s: Scene) -> list[tuple[str, dict]]:
    """Every POST action of the webhooks pages."""
    return [
        (reverse("webhooks:endpoint_create"), _endpoint_form()),
        (reverse("webhooks:receiver_clear"), {}),
        *_object_actions(s),
    ]


def _post_only(s: Scene) -> list[str]:
    endpoint = s.endpoint.public_id
    return [
        reverse("webhooks:endpoint_toggle", args=[endpoint]),
        reverse("webhooks:endpoint_delete", args=[endpoint]),
        reverse("webhooks:endpoint_secret", args=[endpoint]),
        reverse("webhooks:endpoint_test", args=[endpoint]),
        reverse("webhooks:endpoint_recover", args=[endpoint]),
        reverse("webhooks:delivery_retry", args=[s.delivery.public_id]),
        reverse("webhooks:receiver_clear"),
    ]


def _is_login_redirect(response, path: str) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response.url)
    return location.path == reverse("accounts:login") and parse_qs(location.query)["next"] == [path]


# ---- who may open what --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_from_every_page_and_action(client, ours):
    before = _state()
    for url in _pages(ours) + _manage_pages(ours):
        assert _is_login_redirect(client.get(url), url), url
    for url, data in _actions(ours):
        assert _is_login_redirect(client.post(url, data), url), url
        assert _state() == before, url


@pytest.mark.parametrize("who", ["owner", "admin", "teammate", "read_only"])
def test_every_page_answers_200_to_each_role_with_webhooks_read(world, login, ours, who):
    client = login(getattr(world, who))
    for url in _pages(ours):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b'<nav class="tabs" aria-label="Webhooks">' in response.content, url


@pytest.mark.parametrize(("who", "can_manage"), [("owner", True), ("teammate", True), ("read_only", False)])
def test_the_buttons_follow_the_role(world, login, ours, who, can_manage):
    client = login(getattr(world, who))
    listing = client.get(reverse("webhooks:endpoint_list")).content.decode()
    assert (f'href="{reverse("webhooks:endpoint_create")}"' in listing) is can_manage
    detail = client.get(reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])).content.decode()
    assert (f'action="{reverse("webhooks:endpoint_toggle", args=[ours.endpoint.public_id])}"' in detail) is can_manage
    assert ("Reveal secret" in detail) is can_manage  # the built-in roles with manage also hold secrets
    assert ("Send test event" in detail) is can_manage
    delivery = client.get(reverse("webhooks:delivery_detail", args=[ours.delivery.public_id])).content.decode()
    assert ("Retry now" in delivery) is can_manage
    event = client.get(reverse("webhooks:event_detail", args=[ours.event.public_id])).content.decode()
    assert (">Resend</button>" in event) is can_manage
    assert ("Clear</button>" in client.get(reverse("webhooks:receiver")).content.decode()) is can_manage


def test_a_read_only_member_is_refused_every_change_and_nothing_changes(world, login, ours):
    client = login(world.read_only)
    before = _state()
    for url in _manage_pages(ours):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "“webhooks:manage”" in response.content.decode(), url
    for url, data in _actions(ours):
        response = client.post(url, data)
        assert response.status_code == 403, url
        needed = "webhooks:secrets" if "/secret/" in url else "webhooks:manage"
        assert f"“{needed}”" in response.content.decode(), url
        assert _state() == before, url


def test_a_member_without_webhooks_read_is_refused_every_page(world, login, ours):
    client = login(_member_with(world, "support:read"))
    for url in _pages(ours):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "“webhooks:read”" in response.content.decode(), url


def test_a_member_who_may_reveal_but_not_manage_cannot_rotate(world, login, ours):
    client = login(_member_with(world, "webhooks:read", "webhooks:secrets"))
    url = reverse("webhooks:endpoint_secret", args=[ours.endpoint.public_id])
    detail = client.get(reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])).content.decode()
    assert "Reveal secret" in detail and "Rotate secret" not in detail
    assert ours.endpoint.secret in client.post(url).content.decode()
    before = _state()
    response = client.post(url, {"action": "rotate"})
    assert response.status_code == 403
    assert "“webhooks:manage”" in response.content.decode()
    assert ours.endpoint.secret not in response.content.decode()
    assert _state() == before
    ours.endpoint.refresh_from_db()
    assert not ours.endpoint.previous_secret_encrypted


def test_a_member_who_may_manage_but_not_see_secrets_cannot_reveal_them(world, login, ours):
    client = login(_member_with(world, "webhooks:read", "webhooks:manage"))
    url = reverse("webhooks:endpoint_secret", args=[ours.endpoint.public_id])
    before = _state()
    for data in ({}, {"action": "rotate"}):
        response = client.post(url, data)
        assert response.status_code == 403
        assert "“webhooks:secrets”" in response.content.decode()
        assert ours.endpoint.secret not in response.content.decode()
        assert _state() == before
    detail = client.get(reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])).content.decode()
    assert "Reveal secret" not in detail and "Rotate secret" not in detail and "Send test event" in detail


def test_another_organisations_objects_answer_404_everywhere_and_nothing_changes(world, login, ours, theirs):
    client = login(world.owner)
    before = _state()
    edit = reverse("webhooks:endpoint_edit", args=[theirs.endpoint.public_id])
    for url in [*_object_pages(theirs), edit]:
        assert client.get(url).status_code == 404, url
    for url, data in _object_actions(theirs):
        assert client.post(url, data).status_code == 404, url
        assert _state() == before, url


def test_another_organisations_objects_are_not_listed(world, login, ours, theirs):
    client = login(world.owner)
    listing = client.get(reverse("webhooks:endpoint_list")).content.decode()
    assert ours.endpoint.public_id in listing and theirs.endpoint.public_id not in listing
    events = client.get(reverse("webhooks:event_list")).content.decode()
    assert ours.event.public_id in events and theirs.event.public_id not in events
    assert theirs.delivery.webhook_id not in events
    received = client.get(reverse("webhooks:receiver")).content.decode()
    assert services.receiver_for(organization=world.outsider_org).token not in received
    assert services.receiver_for(organization=world.org).token in received


def test_an_event_cannot_be_resent_to_another_organisations_or_modes_endpoint(
    world, login, make_endpoint, ours, theirs
):
    live = make_endpoint("https://hooks.acme.test/live", livemode=True)
    client = login(world.owner)
    url = reverse("webhooks:event_detail", args=[ours.event.public_id])
    page = client.get(url).content.decode()
    assert f'value="{ours.endpoint.public_id}"' in page
    assert theirs.endpoint.public_id not in page and live.public_id not in page
    before = _state()
    for endpoint in (theirs.endpoint, live):
        response = client.post(url, {"endpoint": endpoint.public_id})
        assert response.status_code == 400
        assert "Select a valid choice" in _field_error(response, "endpoint")
        assert _state() == before


def test_get_on_a_post_only_action_is_405_and_changes_nothing(world, login, ours):
    client = login(world.owner)
    before = _state()
    for url in _post_only(ours):
        response = client.get(url)
        assert response.status_code == 405, url
        assert response["Allow"] == "POST", url
    for url in [reverse("webhooks:endpoint_list"), reverse("webhooks:event_list"), reverse("webhooks:docs")]:
        assert client.post(url).status_code == 405, url
    assert client.put(reverse("webhooks:endpoint_create")).status_code == 405
    assert _state() == before


# ---- endpoints ------------------------------------------------------------------------------------


def test_the_endpoint_list_filters_by_mode(world, login, make_endpoint, ours):
    live = make_endpoint("https://hooks.acme.test/live", livemode=True)
    client = login(world.read_only)
    everything = client.get(reverse("webhooks:endpoint_list")).content.decode()
    assert (
        f'data-endpoint="{ours.endpoint.public_id}"' in everything and f'data-endpoint="{live.public_id}"' in everything
    )
    only_live = client.get(reverse("webhooks:endpoint_list"), {"environment": "live"}).content.decode()
    assert f'data-endpoint="{live.public_id}"' in only_live
    assert f'data-endpoint="{ours.endpoint.public_id}"' not in only_live


def test_creating_an_endpoint_goes_through_the_service(world, login):
    client = login(world.teammate)
    prefill = "http://127.0.0.1:9/prefilled"
    form = client.get(reverse("webhooks:endpoint_create"), {"url": prefill})
    assert form.status_code == 200
    assert f'value="{prefill}"' in form.content.decode()
    assert services.receiver_url(services.receiver_for(organization=world.org)) in form.content.decode()
    response = client.post(reverse("webhooks:endpoint_create"), _endpoint_form(), follow=True)
    endpoint = Endpoint.objects.get()
    assert response.redirect_chain == [(reverse("webhooks:endpoint_detail", args=[endpoint.public_id]), 302)]
    assert "Endpoint created. Reveal its signing secret" in response.content.decode()
    assert endpoint.secret not in response.content.decode()
    assert (endpoint.organization, endpoint.livemode, endpoint.url, endpoint.description) == (
        world.org,
        False,
        "https://hooks.acme.test/orders",
        "Orders backend v2",
    )
    assert endpoint.event_types == ["payment.succeeded", "payment.failed"]
    assert endpoint.headers == {"X-Team": "payments", "X-Region": "eu"}
    assert endpoint.rate_limit_per_second == 5
    assert AuditLog.objects.get(action="webhook.endpoint_created").actor == world.teammate


def test_a_live_endpoint_is_created_in_live_mode(world, login):
    response = login(world.owner).post(
        reverse("webhooks:endpoint_create"), _endpoint_form(environment="live", event_types=[], headers="")
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.livemode is True and endpoint.event_types == [] and endpoint.headers == {}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"environment": "live", "url": "http://hooks.acme.test/orders"}, "url", "Live-mode endpoints must use https."),
        ({"url": "not a url"}, "url", "The URL contains spaces or control characters."),
        ({"url": "hooks.acme.test/orders"}, "url", "Only http and https URLs can receive webhooks."),
        ({"url": "ftp://hooks.acme.test/"}, "url", "Only http and https URLs can receive webhooks."),
        ({"url": "https://"}, "url", "The URL has no host."),
        ({"url": "https://me:pw@hooks.acme.test/"}, "url", "Credentials in the URL are not allowed"),
        ({"url": "http://169.254.169.254/latest"}, "url", "a cloud metadata address"),
        ({"url": ""}, "url", "This field is required."),
        ({"event_types": ["payment.succeeded", "nope.nothing"]}, "event_types", "nope.nothing is not one of"),
        ({"headers": "X-Team payments"}, "headers", "“X-Team payments” is not “Name: value”."),
        ({"headers": "Content-Type: text/plain"}, "headers", "Content-Type is set by the portal"),
        ({"rate_limit_per_second": "0"}, "rate_limit_per_second", "greater than or equal to 1"),
        ({"environment": "staging"}, "environment", "Select a valid choice."),
    ],
)
def test_bad_input_on_create_is_shown_next_to_its_field_and_creates_nothing(world, login, overrides, field, message):
    before = _state()
    response = login(world.teammate).post(reverse("webhooks:endpoint_create"), _endpoint_form(**overrides))
    assert response.status_code == 400  # the form again, not a redirect
    assert message in _field_error(response, field)
    assert "Create endpoint</button>" in response.content.decode()
    assert _state() == before
    assert not Endpoint.objects.exists()


def test_the_private_address_setting_is_enforced_on_create(world, login, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = login(world.owner).post(reverse("webhooks:endpoint_create"), _endpoint_form(url="http://10.1.2.3/h"))
    assert response.status_code == 400
    assert "a private, loopback or link-local address" in _field_error(response, "url")
    assert not Endpoint.objects.exists()


def test_editing_an_endpoint_goes_through_the_service(world, login, ours):
    client = login(world.teammate)
    url = reverse("webhooks:endpoint_edit", args=[ours.endpoint.public_id])
    form = client.get(url).content.decode()
    assert f'value="{ours.endpoint.url}"' in form and "X-Team: payments" in form
    assert 'name="environment"' not in form  # the mode is fixed once created
    secret = ours.endpoint.secret
    response = client.post(
        url, _endpoint_form(url="https://hooks.acme.test/v2", event_types=[], headers="", rate_limit_per_second="")
    )
    assert response.status_code == 302
    assert response.url == reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])
    ours.endpoint.refresh_from_db()
    assert ours.endpoint.url == "https://hooks.acme.test/v2" and ours.endpoint.description == "Orders backend v2"
    assert ours.endpoint.event_types == [] and ours.endpoint.headers == {}
    assert ours.endpoint.rate_limit_per_second is None and ours.endpoint.livemode is False
    assert ours.endpoint.secret == secret
    assert AuditLog.objects.filter(action="webhook.endpoint_updated", target_id=ours.endpoint.public_id).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"url": "gopher://hooks.acme.test/"}, "url", "Only http and https URLs can receive webhooks."),
        ({"event_types": ["nope.nothing"]}, "event_types", "nope.nothing is not one of"),
        ({"headers": "Webhook-Signature: forged"}, "headers", "Webhook-Signature is set by the portal"),
        ({"headers": "no colon here"}, "headers", "is not “Name: value”."),
        ({"rate_limit_per_second": "-3"}, "rate_limit_per_second", "greater than or equal to 1"),
    ],
)
def test_bad_input_on_edit_is_shown_next_to_its_field_and_changes_nothing(
    world, login, ours, overrides, field, message
):
    before = _state()
    response = login(world.owner).post(
        reverse("webhooks:endpoint_edit", args=[ours.endpoint.public_id]), _endpoint_form(**overrides)
    )
    assert response.status_code == 400
    assert message in _field_error(response, field)
    assert "Save</button>" in response.content.decode()
    assert _state() == before


def test_a_live_endpoint_cannot_be_edited_to_plain_http(world, login, make_endpoint):
    live = make_endpoint("https://hooks.acme.test/live", livemode=True)
    before = _state()
    response = login(world.owner).post(
        reverse("webhooks:endpoint_edit", args=[live.public_id]), _endpoint_form(url="http://hooks.acme.test/live")
    )
    assert response.status_code == 400
    assert _field_error(response, "url") == "Live-mode endpoints must use https."
    assert _state() == before


def test_the_endpoint_page_shows_its_details_and_delivery_log(world, login, ours):
    client = login(world.read_only)
    url = reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])
    page = client.get(url).content.decode()
    assert ours.endpoint.url in page and "Orders backend" in page and "payment.succeeded" in page
    assert "X-Team: payments" in page
    assert f'data-delivery="{ours.delivery.public_id}"' in page and "HTTP 500" in page
    assert ours.endpoint.secret not in page
    failed = client.get(url, {"status": "failed"}).content.decode()
    assert f'data-delivery="{ours.delivery.public_id}"' in failed
    succeeded = client.get(url, {"status": "succeeded"}).content.decode()
    assert "data-delivery=" not in succeeded and "No deliveries match these filters." in succeeded


def test_toggling_disables_then_enables_the_endpoint(world, login, ours):
    client = login(world.teammate)
    url = reverse("webhooks:endpoint_toggle", args=[ours.endpoint.public_id])
    response = client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id]), 302)]
    assert "Endpoint disabled; new events are not sent to it." in response.content.decode()
    ours.endpoint.refresh_from_db()
    assert ours.endpoint.enabled is False and ours.endpoint.disabled_reason == "Disabled by a member."
    assert "Endpoint enabled." in client.post(url, follow=True).content.decode()
    ours.endpoint.refresh_from_db()
    assert ours.endpoint.enabled is True and ours.endpoint.disabled_reason == ""
    actions = AuditLog.objects.filter(target_id=ours.endpoint.public_id).values_list("action", flat=True)
    assert {"webhook.endpoint_disabled", "webhook.endpoint_enabled"} <= set(actions)


def test_deleting_an_endpoint_removes_it_and_its_delivery_log(world, login, ours):
    response = login(world.teammate).post(
        reverse("webhooks:endpoint_delete", args=[ours.endpoint.public_id]), follow=True
    )
    assert response.redirect_chain == [(reverse("webhooks:endpoint_list"), 302)]
    assert "Endpoint deleted." in response.content.decode()
    assert not Endpoint.objects.filter(pk=ours.endpoint.pk).exists()
    assert not Delivery.objects.filter(pk=ours.delivery.pk).exists()
    assert AuditLog.objects.filter(action="webhook.endpoint_deleted", target_id=ours.endpoint.public_id).exists()


# ---- signing secrets ---------------------------------------------------------------------------


def test_revealing_shows_the_secret_on_no_store_pages_only(world, login, ours):
    client = login(world.teammate)
    secret = ours.endpoint.secret
    assert secret.startswith("whsec_")
    response = client.post(reverse("webhooks:endpoint_secret", args=[ours.endpoint.public_id]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert f'<code id="webhook-secret" data-secret>{secret}</code>' in page
    assert "New signing secret" not in page
    entry = AuditLog.objects.get(action="webhook.secret_revealed")
    assert (entry.actor, entry.target_id) == (world.teammate, ours.endpoint.public_id)
    # Not a show-once secret: it stays revealable (each time audited), on this page only.
    again = client.post(reverse("webhooks:endpoint_secret", args=[ours.endpoint.public_id]))
    assert secret in again.content.decode()
    assert AuditLog.objects.filter(action="webhook.secret_revealed").count() == 2
    for url in _pages(ours) + _manage_pages(ours):
        assert secret not in client.get(url).content.decode(), url
    ours.endpoint.refresh_from_db()
    assert ours.endpoint.secret == secret  # revealing does not change it


def test_rotating_shows_the_new_secret_and_keeps_the_old_one_signing_for_a_day(world, login, ours):
    client = login(world.teammate)
    old = ours.endpoint.secret
    response = client.post(reverse("webhooks:endpoint_secret", args=[ours.endpoint.public_id]), {"action": "rotate"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    ours.endpoint.refresh_from_db()
    new = ours.endpoint.secret
    assert new != old and new in page and old not in page
    assert "New signing secret" in page and "for the next 24 hours" in page
    assert ours.endpoint.previous_secret == old
    remaining = ours.endpoint.previous_secret_valid_until - timezone.now()
    assert timedelta(hours=23) < remaining <= timedelta(hours=24)
    assert ours.endpoint.signing_secrets() == [new, old]
    assert AuditLog.objects.filter(action="webhook.secret_rotated", actor=world.teammate).exists()
    detail = client.get(reverse("webhooks:endpoint_detail", args=[ours.endpoint.public_id])).content.decode()
    assert new not in detail and old not in detail and "Previous secret" in detail


# ---- test events, recovery and retries -----------------------------------------------------------


def test_a_test_event_is_delivered_to_that_endpoint(
    world, login, delivering, receiver, django_capture_on_commit_callbacks
):
    client = login(world.teammate)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("webhooks:endpoint_test", args=[delivering.endpoint.public_id]),
            {"type": "payment.failed"},
            follow=True,
        )
    delivery = Delivery.objects.exclude(pk=delivering.delivery.pk).get()
    assert response.redirect_chain == [(reverse("webhooks:endpoint_detail", args=[delivering.endpoint.public_id]), 302)]
    assert f"Test event sent ({delivery.webhook_id})." in response.content.decode()
    assert (delivery.endpoint, delivery.event_type, delivery.status) == (
        delivering.endpoint,
        "webhook.test",
        "succeeded",
    )
    assert delivery.event.data["requested_type"] == "payment.failed"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.webhook_id]
    assert receiver.requests[0].headers["x-team"] == "payments"


def test_an_unknown_test_event_type_is_refused_and_sends_nothing(world, login, ours):
    before = _state()
    client = login(world.owner)
    url = reverse("webhooks:endpoint_test", args=[ours.endpoint.public_id])
    response = client.post(url, {"type": "nope.nothing"})
    assert response.status_code == 302
    assert _state() == before
    page = client.get(response["Location"]).content.decode()
    assert "Choose an event type from the catalogue; no test event was sent." in page


def test_recovering_resends_the_failed_deliveries_since_the_chosen_time(
    world, login, delivering, receiver, django_capture_on_commit_callbacks
):
    client = login(world.teammate)
    url = reverse("webhooks:endpoint_recover", args=[delivering.endpoint.public_id])
    later = timezone.localtime() + timedelta(hours=1)
    response = client.post(url, {"since": later.strftime("%Y-%m-%dT%H:%M")}, follow=True)
    assert "0 failed deliveries queued again." in response.content.decode()
    delivering.delivery.refresh_from_db()
    assert delivering.delivery.status == Delivery.Status.FAILED and not receiver.requests
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"since": "2000-01-01T00:00"}, follow=True)
    assert response.redirect_chain == [(reverse("webhooks:endpoint_detail", args=[delivering.endpoint.public_id]), 302)]
    assert "1 failed delivery queued again." in response.content.decode()
    delivering.delivery.refresh_from_db()
    assert delivering.delivery.status == Delivery.Status.SUCCEEDED and delivering.delivery.attempt_count == 9
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivering.delivery.webhook_id]
    recovered = AuditLog.objects.filter(action="webhook.deliveries_recovered").values_list("details", flat=True)
    assert sorted(d["count"] for d in recovered) == [0, 1]


def test_recovering_without_a_time_changes_nothing(world, login, ours):
    before = _state()
    response = login(world.owner).post(
        reverse("webhooks:endpoint_recover", args=[ours.endpoint.public_id]), {"since": "yesterday-ish"}, follow=True
    )
    assert "Choose the time to recover from." in response.content.decode()
    assert _state() == before


def test_the_delivery_page_shows_its_attempts_and_retry_makes_another(
    world, login, delivering, receiver, django_capture_on_commit_callbacks
):
    client = login(world.teammate)
    url = reverse("webhooks:delivery_detail", args=[delivering.delivery.public_id])
    page = client.get(url).content.decode()
    assert delivering.delivery.webhook_id in page and "badge-danger" in page and "No attempt yet" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:delivery_retry", args=[delivering.delivery.public_id]), follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Retry queued." in response.content.decode()
    delivering.delivery.refresh_from_db()
    assert delivering.delivery.status == Delivery.Status.SUCCEEDED and delivering.delivery.attempt_count == 9
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivering.delivery.webhook_id]
    assert AuditLog.objects.filter(action="webhook.delivery_retried", target_id=delivering.delivery.public_id).exists()
    page = client.get(url).content.decode()
    attempt = delivering.delivery.attempts.get()
    assert f'id="{attempt.public_id}"' in page and f"POST {receiver.url}" in page and "HTTP 200" in page


def test_a_retry_without_a_worker_leaves_the_delivery_pending_and_due(world, login, ours):
    response = login(world.owner).post(reverse("webhooks:delivery_retry", args=[ours.delivery.public_id]))
    assert response.status_code == 302
    ours.delivery.refresh_from_db()
    assert ours.delivery.status == Delivery.Status.PENDING
    assert ours.delivery.completed_at is None and ours.delivery.next_attempt_at <= timezone.now()


# ---- events ------------------------------------------------------------------------------------


def test_the_event_list_filters_by_type(world, login, ours):
    client = login(world.read_only)
    everything = EVENT_ROW.findall(client.get(reverse("webhooks:event_list")).content.decode())
    assert set(everything) == {ours.event.public_id, ours.delivery.webhook_id}
    response = client.get(reverse("webhooks:event_list"), {"type": "payment.succeeded"})
    assert EVENT_ROW.findall(response.content.decode()) == [ours.event.public_id]
    assert '<option value="payment.succeeded" selected>' in response.content.decode()
    response = client.get(reverse("webhooks:event_list"), {"type": "payment.refunded"})
    assert EVENT_ROW.findall(response.content.decode()) == [] and "No events yet." in response.content.decode()


def test_the_event_page_shows_the_payload_and_its_deliveries(world, login, ours):
    client = login(world.read_only)
    page = client.get(reverse("webhooks:event_detail", args=[ours.event.public_id])).content.decode()
    ours.event.refresh_from_db()  # the payload as stored (jsonb orders the keys of `data` its own way)
    assert html.escape(services._payload(ours.event).decode()) in page
    assert "No endpoint was subscribed to this event." in page
    test_event = client.get(reverse("webhooks:event_detail", args=[ours.delivery.webhook_id])).content.decode()
    assert reverse("webhooks:delivery_detail", args=[ours.delivery.public_id]) in test_event


def test_an_event_is_resent_to_a_chosen_endpoint(world, login, ours):
    url = reverse("webhooks:event_detail", args=[ours.event.public_id])
    response = login(world.teammate).post(url, {"endpoint": ours.endpoint.public_id}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert f"Event resent to {ours.endpoint.url}." in response.content.decode()
    resent = Delivery.objects.get(event=ours.event)
    assert resent.is_resend and resent.endpoint == ours.endpoint and resent.webhook_id == ours.event.public_id
    assert ">resend</span>" in response.content.decode()


def _record(org, type: str, count: int) -> list[str]:
    return [
        services.event_record(organization=org, livemode=False, type=type, data=PAYMENT).public_id for _ in range(count)
    ]


def test_the_event_list_paginates_keeping_the_type_filter(world, login):
    succeeded = _record(world.org, "payment.succeeded", PAGE_SIZE + 2)
    failed = _record(world.org, "payment.failed", 3)
    _record(world.outsider_org, "payment.succeeded", 2)
    client = login(world.owner)
    url = reverse("webhooks:event_list")

    first = client.get(url, {"type": "payment.succeeded"}).content.decode()
    assert len(EVENT_ROW.findall(first)) == PAGE_SIZE
    assert 'rel="next" href="?type=payment.succeeded&amp;page=2"' in first
    assert 'rel="prev"' not in first and "Page 1 of 2" in first
    second = client.get(url, {"type": "payment.succeeded", "page": "2"}).content.decode()
    assert len(EVENT_ROW.findall(second)) == 2
    assert set(EVENT_ROW.findall(first)) | set(EVENT_ROW.findall(second)) == set(succeeded)
    assert 'rel="prev" href="?type=payment.succeeded&amp;page=1"' in second and 'rel="next"' not in second

    unfiltered = client.get(url).content.decode()
    assert 'rel="next" href="?page=2"' in unfiltered and "Page 1 of 2" in unfiltered
    rest = client.get(url, {"page": "2"}).content.decode()
    assert set(EVENT_ROW.findall(unfiltered)) | set(EVENT_ROW.findall(rest)) == set(succeeded + failed)
    assert len(EVENT_ROW.findall(rest)) == len(succeeded + failed) - PAGE_SIZE


def test_the_type_in_the_page_links_is_url_encoded(world, login):
    # The catalogue's names need no encoding; the filter takes any type, so make one that does.
    odd = "legacy type&more"
    Event.objects.bulk_create(Event(organization=world.org, type=odd, data={}) for _ in range(PAGE_SIZE + 1))
    page = login(world.owner).get(reverse("webhooks:event_list"), {"type": odd}).content.decode()
    assert len(EVENT_ROW.findall(page)) == PAGE_SIZE
    assert 'rel="next" href="?type=legacy+type%26more&amp;page=2"' in page


def test_the_event_list_makes_a_bounded_number_of_queries(world, login, django_assert_max_num_queries):
    client = login(world.owner)
    _record(world.org, "payment.succeeded", 1)
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("webhooks:event_list"), {"type": "payment.succeeded"})
    _record(world.org, "payment.succeeded", PAGE_SIZE + 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("webhooks:event_list"), {"type": "payment.succeeded"})
    assert len(EVENT_ROW.findall(response.content.decode())) == PAGE_SIZE


# ---- the built-in receiver and the docs ---------------------------------------------------------


def test_the_receiver_page_shows_what_arrived_and_clear_empties_it(world, login, ours, theirs):
    client = login(world.teammate)
    receiver = services.receiver_for(organization=world.org)
    inbox = reverse("webhooks:receiver_inbox", args=[receiver.token])
    posted = client.post(inbox, b'{"hello":"world"}', content_type="application/json", HTTP_WEBHOOK_ID="msg_new")
    assert posted.status_code == 200 and posted.json() == {"received": True, "verified": False}
    page = client.get(reverse("webhooks:receiver")).content.decode()
    assert services.receiver_url(receiver) in page
    assert 'data-webhook-id="msg_new"' in page and 'data-webhook-id="msg_seen"' in page
    partial = client.get(reverse("webhooks:receiver"), {"partial": "1"}).content.decode()
    assert partial.startswith('<div id="received-list" data-count="2">') and "<html" not in partial
    response = client.post(reverse("webhooks:receiver_clear"), follow=True)
    assert response.redirect_chain == [(reverse("webhooks:receiver"), 302)]
    assert "Received requests cleared." in response.content.decode()
    assert 'data-count="0"' in response.content.decode()
    assert not ReceivedRequest.objects.filter(receiver=receiver).exists()
    assert ReceivedRequest.objects.filter(pk=theirs.received.pk).exists()  # only our own receiver


def test_the_receiver_inbox_takes_posts_for_known_tokens_only(client, world):
    token = services.receiver_for(organization=world.org).token
    assert client.get(reverse("webhooks:receiver_inbox", args=[token])).status_code == 405
    unknown = reverse("webhooks:receiver_inbox", args=["whrcv_unknown"])
    assert client.post(unknown, b"{}", content_type="application/json").status_code == 404
    assert not ReceivedRequest.objects.exists()


def test_the_docs_page_lists_the_retry_schedule_and_every_event_type(world, login):
    page = login(world.read_only).get(reverse("webhooks:docs")).content.decode()
    assert "Receiving webhooks" in page
    assert '<th scope="row">Attempt 2</th><td>5 seconds after the previous one</td>' in page
    assert '<th scope="row">Attempt 8</th><td>10 hours after the previous one</td>' in page
    assert all(f'id="type-{name}"' in page for name in catalogue.TYPE_NAMES)
