"""Reviews and ratings: who may review, one review per organisation, partner replies, staff
hiding, the rating aggregates (also under concurrent writers on PostgreSQL), escaping on
the page and plain text in the API, and a detail page whose query count doesn't grow."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Count, Sum
from django.http import Http404
from django.urls import reverse

from accounts.models import AuditLog
from apikeys.services import apikey_create
from marketplace import selectors, services
from marketplace.models import Integration, Review
from tests.factories import add_member, make_user
from tests.marketplace.review_factories import install, published, reviewer

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _review(integration, membership, rating=4, body="Solid sync, clear docs.", title="Works well") -> Review:
    return services.review_create(actor=membership, integration=integration, rating=rating, body=body, title=title)


def _figures(integration: Integration) -> tuple[int, int, Decimal]:
    integration.refresh_from_db()
    return integration.rating_count, integration.rating_sum, integration.rating_average


# ---- writing -------------------------------------------------------------------------------


def test_an_organisation_that_installed_and_used_it_reviews_it_and_the_partner_hears(
    partners, django_capture_on_commit_callbacks
):
    integration = published(partners)
    user, org, membership = reviewer(integration, name="Acme")
    add_member(partners.org, make_user("admin@ledgerly.test"), "admin")
    with django_capture_on_commit_callbacks(execute=True):
        review = _review(integration, membership, rating=4)
    assert review.public_id.startswith("rev_")
    assert (review.organization, review.author, review.rating) == (org, user, 4)
    assert _figures(integration) == (1, 4, Decimal("4.00"))
    assert AuditLog.objects.filter(action="review.created", target_id=review.public_id, organization=org).exists()
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["admin@ledgerly.test", "owner@ledgerly.test"]
    assert "Acme reviewed Ledger Sync: 4 out of 5 stars" in mail.outbox[0].body
    assert f"/marketplace/reviews/{review.public_id}/reply/" in mail.outbox[0].body


def test_an_install_in_either_mode_even_uninstalled_counts_once_it_made_calls(partners):
    integration = published(partners)
    _user, org, membership = reviewer(name="Acme")
    installation = install(integration, org, calls=3, env="live")
    installation.status = "uninstalled"
    installation.save(update_fields=["status"])
    assert selectors.review_eligibility(integration=integration, organization=org).allowed
    _review(integration, membership, rating=5)
    assert _figures(integration) == (1, 5, Decimal("5.00"))


def test_without_an_install_the_review_is_refused_with_a_clear_reason(partners):
    integration = published(partners)
    _user, _org, membership = reviewer(name="Acme")
    with pytest.raises(ValidationError) as error:
        _review(integration, membership)
    assert error.value.messages[0].startswith("Install it and use it before reviewing")
    assert not Review.objects.exists()
    assert _figures(integration) == (0, 0, Decimal("0.00"))


def test_an_install_without_calls_is_refused_with_its_own_reason(partners):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme", calls=0)
    with pytest.raises(ValidationError) as error:
        _review(integration, membership)
    assert "hasn't made any API calls through it yet" in error.value.messages[0]
    assert not Review.objects.exists()


def test_a_second_review_by_the_same_organisation_is_refused(partners):
    integration = published(partners)
    user, org, membership = reviewer(integration, name="Acme")
    _review(integration, membership, rating=2)
    teammate = make_user()
    add_member(org, teammate, "developer")
    with pytest.raises(ValidationError) as error:
        _review(integration, membership.__class__.objects.get(user=teammate), rating=5)
    assert error.value.messages == [
        "Your organisation has already reviewed this integration; edit that review instead."
    ]
    assert Review.objects.count() == 1
    assert _figures(integration) == (1, 2, Decimal("2.00"))


@pytest.mark.parametrize("rating", [0, 6, -1, "5.5", None, True])
def test_ratings_outside_one_to_five_are_refused(partners, rating):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    with pytest.raises(ValidationError) as error:
        _review(integration, membership, rating=rating)
    assert error.value.message_dict == {"rating": ["Give a rating from 1 to 5 stars."]}
    assert not Review.objects.exists()


def test_empty_or_overlong_text_is_refused_next_to_the_field(partners):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    with pytest.raises(ValidationError) as error:
        _review(integration, membership, body="   ", title="x" * 121)
    assert set(error.value.message_dict) == {"body", "title"}
    assert not Review.objects.exists()


def test_the_partner_cannot_review_its_own_integration(partners):
    integration = published(partners)
    install(integration, partners.org, calls=10)
    with pytest.raises(ValidationError) as error:
        _review(integration, partners.membership(partners.owner))
    assert "publishes this integration" in error.value.messages[0]


def test_a_read_only_member_may_not_review(partners):
    integration = published(partners)
    _user, org, _membership = reviewer(integration, name="Acme")
    watcher = make_user()
    read_only = add_member(org, watcher, "read_only")
    with pytest.raises(PermissionDenied):
        _review(integration, read_only)
    assert not Review.objects.exists()


# ---- editing, replying, hiding -------------------------------------------------------------


def test_the_organisation_edits_its_review_and_the_average_follows(partners):
    integration = published(partners)
    _u1, _o1, first = reviewer(integration, name="Acme")
    _u2, _o2, second = reviewer(integration, name="Globex")
    review = _review(integration, first, rating=5)
    _review(integration, second, rating=2)
    assert _figures(integration) == (2, 7, Decimal("3.50"))
    services.review_update(review=review, actor=first, rating=3, body="Better after 2.0.")
    review.refresh_from_db()
    assert (review.rating, review.body, review.title) == (3, "Better after 2.0.", "Works well")
    assert review.updated_at > review.created_at
    assert _figures(integration) == (2, 5, Decimal("2.50"))
    entry = AuditLog.objects.get(action="review.updated", target_id=review.public_id)
    assert entry.details["rating"] == {"from": 5, "to": 3}


def test_another_organisation_cannot_reach_or_edit_a_review(partners):
    integration = published(partners)
    _u1, _o1, author = reviewer(integration, name="Acme")
    _u2, _o2, stranger = reviewer(integration, name="Globex")
    review = _review(integration, author, rating=5)
    with pytest.raises(Http404):
        selectors.review_get_for_author(actor=stranger, public_id=review.public_id)
    with pytest.raises(PermissionDenied):
        services.review_update(review=review, actor=stranger, rating=1)
    review.refresh_from_db()
    assert review.rating == 5


def test_the_partner_replies_and_the_author_hears_once(partners, django_capture_on_commit_callbacks):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme", email="dana@acme.test")
    review = _review(integration, membership)
    partner = partners.membership(partners.developer)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_reply(review=review, actor=partner, body="Thanks, Acme!")
    review.refresh_from_db()
    assert (review.reply_body, review.reply_by) == ("Thanks, Acme!", partners.developer)
    assert [m.to for m in mail.outbox] == [["dana@acme.test"]]
    assert "Ledgerly replied" in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        services.review_reply(review=review, actor=partner, body="Thanks again, Acme!")
    review.refresh_from_db()
    assert review.reply_body == "Thanks again, Acme!"
    assert len(mail.outbox) == 1  # an edit isn't news
    actions = list(AuditLog.objects.filter(target_id=review.public_id).values_list("action", flat=True))
    assert {"review.replied", "review.reply_updated"} <= set(actions)


def test_another_partner_cannot_reply_to_someone_elses_review(partners):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    review = _review(integration, membership)
    rival = partners.membership(partners.other_owner)
    with pytest.raises(Http404):
        selectors.review_get_for_partner(actor=rival, public_id=review.public_id)
    with pytest.raises(PermissionDenied):
        services.review_reply(review=review, actor=rival, body="Try ours instead")
    review.refresh_from_db()
    assert review.reply_body == ""


def test_staff_hide_a_review_with_a_reason_and_it_leaves_the_list_and_the_average(partners):
    integration = published(partners)
    _u1, _o1, first = reviewer(integration, name="Acme")
    _u2, _o2, second = reviewer(integration, name="Globex")
    spam = _review(integration, first, rating=1, body="Buy cheap watches")
    _review(integration, second, rating=5)
    assert _figures(integration) == (2, 6, Decimal("3.00"))
    with pytest.raises(ValidationError) as error:
        services.review_hide(review=spam, actor=partners.staff, reason="  ")
    assert "reason" in error.value.message_dict
    services.review_hide(review=spam, actor=partners.staff, reason="Spam")
    assert _figures(integration) == (1, 5, Decimal("5.00"))
    assert [r.rating for r in selectors.review_list_visible(integration=integration)] == [5]
    assert [(row.stars, row.count) for row in selectors.review_rating_breakdown(integration=integration)][0] == (5, 1)
    assert AuditLog.objects.filter(action="review.hidden", target_id=spam.public_id, details__reason="Spam").exists()
    services.review_unhide(review=spam, actor=partners.staff, reason="Appeal accepted")
    assert _figures(integration) == (2, 6, Decimal("3.00"))


def test_only_staff_hide_reviews(partners):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    review = _review(integration, membership)
    with pytest.raises(PermissionDenied):
        services.review_hide(review=review, actor=partners.owner, reason="I don't like it")
    review.refresh_from_db()
    assert review.hidden_at is None


def test_the_average_rounds_to_two_places(partners):
    integration = published(partners)
    for rating, name in ((5, "A"), (4, "B"), (4, "C")):
        _review(integration, reviewer(integration, name=name)[2], rating=rating)
    assert _figures(integration) == (3, 13, Decimal("4.33"))


# ---- pages ---------------------------------------------------------------------------------


def test_an_eligible_developer_writes_then_edits_a_review_through_the_page(partners, client):
    integration = published(partners)
    user, _org, _membership = reviewer(integration, name="Acme")
    client.force_login(user)
    detail = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "Write a review" in detail
    url = reverse("marketplace:review_write", args=[integration.slug])
    response = client.post(url, {"rating": "4", "title": "Good", "body": "Does what it says."})
    review = Review.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/marketplace/integrations/{integration.slug}/#{review.public_id}")
    detail = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "Edit your review" in detail and "Does what it says." in detail
    client.post(url, {"rating": "2", "title": "Good", "body": "Broke after the update."})
    review.refresh_from_db()
    assert (review.rating, review.body) == (2, "Broke after the update.")
    assert _figures(integration) == (1, 2, Decimal("2.00"))


@pytest.mark.parametrize("rating", ["0", "6", ""])
def test_the_page_puts_a_bad_rating_error_next_to_the_field(partners, client, rating):
    integration = published(partners)
    user, _org, _membership = reviewer(integration, name="Acme")
    client.force_login(user)
    response = client.post(
        reverse("marketplace:review_write", args=[integration.slug]), {"rating": rating, "body": "Fine"}
    )
    assert response.status_code == 400
    assert 'id="id_rating_error"' in response.content.decode()
    assert "Give a rating from 1 to 5 stars." in response.content.decode()
    assert not Review.objects.exists()


def test_the_page_explains_why_an_organisation_cannot_review_yet(partners, client):
    integration = published(partners)
    user, org, _membership = reviewer(name="Acme")
    client.force_login(user)
    url = reverse("marketplace:review_write", args=[integration.slug])
    detail = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "Install it and use it before reviewing" in detail
    assert "Write a review" not in detail
    assert "Install it and use it before reviewing" in client.get(url).content.decode()
    response = client.post(url, {"rating": "5", "body": "Great"})
    assert response.status_code == 403
    install(integration, org, calls=0)
    assert "made any API calls through it yet" in client.get(url).content.decode()
    assert not Review.objects.exists()


def test_the_partner_replies_through_the_page_and_a_rival_gets_404(partners, client):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    review = _review(integration, membership)
    url = reverse("marketplace:review_reply", args=[review.public_id])
    client.force_login(partners.other_owner)
    assert client.get(url).status_code == 404
    assert client.post(url, {"body": "Switch to us"}).status_code == 404
    client.force_login(partners.owner)
    detail = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert url in detail
    assert client.post(url, {"body": ""}).status_code == 400
    response = client.post(url, {"body": "Thanks for the feedback."})
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.reply_body == "Thanks for the feedback."
    assert "Reply from Ledgerly" in client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()


def test_staff_hide_through_the_page_and_others_are_refused(partners, client):
    integration = published(partners)
    user, _org, membership = reviewer(integration, name="Acme")
    review = _review(integration, membership, body="Unique spam text")
    url = reverse("marketplace:review_moderate", args=[review.public_id])
    assert client.get(url).status_code == 302  # to the log-in page
    client.force_login(user)
    assert client.post(url, {"reason": "mine"}).status_code == 403
    client.force_login(partners.owner)
    assert client.post(url, {"reason": "unflattering"}).status_code == 403
    review.refresh_from_db()
    assert review.hidden_at is None
    client.force_login(partners.staff)
    response = client.post(url, {"reason": ""})
    assert response.status_code == 400 and 'id="id_reason_error"' in response.content.decode()
    assert client.post(url, {"reason": "Spam"}).status_code == 302
    review.refresh_from_db()
    assert review.hidden_reason == "Spam"
    assert "Unique spam text" not in client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    client.force_login(user)
    own = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "Staff hid your organisation's review: Spam" in own


def test_script_in_reviews_and_replies_is_shown_escaped(partners, client):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    review = _review(integration, membership, body=f"{SCRIPT} and {IMG}", title=IMG)
    services.review_reply(review=review, actor=partners.membership(partners.owner), body=f"{IMG} {SCRIPT}")
    for user in (None, partners.owner, partners.staff):
        if user is not None:
            client.force_login(user)
        pages = [client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()]
        if user is partners.owner:
            pages.append(client.get(reverse("marketplace:review_reply", args=[review.public_id])).content.decode())
        if user is partners.staff:
            pages.append(client.get(reverse("marketplace:review_moderate", args=[review.public_id])).content.decode())
        for page in pages:
            assert SCRIPT not in page and IMG not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
            assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_detail_page_query_count_does_not_grow_with_reviews(partners, client, django_assert_max_num_queries):
    integration = published(partners)
    viewer, _org, _m = reviewer(integration, name="Viewer")
    _review(integration, reviewer(integration, name="First")[2], body="first")

    def count_queries() -> int:
        with django_assert_max_num_queries(100) as captured:
            assert client.get(reverse("marketplace:detail", args=[integration.slug])).status_code == 200
        return len(captured.captured_queries)

    client.force_login(viewer)
    with_one = count_queries()
    for n in range(19):
        member = reviewer(integration, name=f"Org {n}")[2]
        review = _review(integration, member, rating=1 + n % 5, body=f"review {n}")
        services.review_reply(review=review, actor=partners.membership(partners.owner), body=f"reply {n}")
    with_twenty = count_queries()
    assert with_twenty <= with_one
    with django_assert_max_num_queries(with_one):
        page = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "review 18" in page and "reply 18" in page
    assert "20 reviews" in page


def test_the_rating_summary_shows_the_average_and_the_breakdown(partners, client):
    integration = published(partners)
    for rating, name in ((5, "A"), (5, "B"), (5, "C"), (2, "D")):
        _review(integration, reviewer(integration, name=name)[2], rating=rating)
    page = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "4.3 out of 5 stars" in page  # 17/4 = 4.25
    assert "5 stars: 3 reviews (75%)" in page
    assert "2 stars: 1 review (25%)" in page
    assert 'class="rv-fill rv-w75"' in page
    assert "style=" not in page.split('id="rating"')[1].split("</section>")[0]


# ---- API -----------------------------------------------------------------------------------


def test_the_api_lists_visible_reviews_as_plain_text_newest_first(partners, client):
    integration = published(partners)
    _u1, _o1, first = reviewer(integration, name="Acme")
    _u2, _o2, second = reviewer(integration, name="Globex")
    _u3, _o3, third = reviewer(integration, name="Initech")
    older = _review(integration, first, body=SCRIPT, title=IMG)
    services.review_reply(review=older, actor=partners.membership(partners.owner), body=IMG)
    newer = _review(integration, second, rating=2)
    hidden = _review(integration, third, rating=1)
    services.review_hide(review=hidden, actor=partners.staff, reason="Spam")
    response = client.get(f"/api/v1/marketplace/integrations/{integration.slug}/reviews")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert [row["id"] for row in body["data"]] == [newer.public_id, older.public_id]
    assert body["meta"]["total"] == 2
    row = body["data"][1]
    assert (row["body"], row["title"], row["reviewer"], row["rating"]) == (SCRIPT, IMG, "Acme", 4)
    assert row["reply"]["body"] == IMG
    assert body["data"][0]["reply"] is None


def test_the_api_answers_404_problems_for_drafts_and_unknown_slugs(partners, client):
    draft = published(partners, name="Other")
    draft.status = Integration.Status.UNPUBLISHED
    draft.save(update_fields=["status"])
    for slug in (draft.slug, "nope"):
        response = client.get(f"/api/v1/marketplace/integrations/{slug}/reviews")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")


def _key(membership, scopes=("reviews:write",)) -> str:
    return apikey_create(
        organization=membership.organization,
        actor_membership=membership,
        name="Reviews",
        environment="test",
        scopes=list(scopes),
    )[1]


def test_the_api_creates_and_edits_a_review_with_a_key(partners, client):
    integration = published(partners)
    _user, _org, membership = reviewer(integration, name="Acme")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {_key(membership)}"}
    url = f"/api/v1/marketplace/integrations/{integration.slug}/reviews"
    created = client.post(url, {"rating": 5, "body": SCRIPT}, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    assert created.json()["body"] == SCRIPT
    review_id = created.json()["id"]
    again = client.post(url, {"rating": 3, "body": "again"}, content_type="application/json", **auth)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/problems/review-exists")
    edited = client.patch(
        f"/api/v1/marketplace/reviews/{review_id}", {"rating": 3}, content_type="application/json", **auth
    )
    assert edited.status_code == 200 and edited.json()["rating"] == 3
    assert _figures(integration) == (1, 3, Decimal("3.00"))


@pytest.mark.parametrize("rating", [0, 6])
def test_the_api_refuses_a_bad_rating_with_a_field_error(partners, client, rating):
    integration = published(partners)
    user, _org, _membership = reviewer(integration, name="Acme")
    client.force_login(user)
    response = client.post(
        f"/api/v1/marketplace/integrations/{integration.slug}/reviews",
        {"rating": rating, "body": "ok"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "rating" in response.json()["errors"]
    assert not Review.objects.exists()


def test_the_api_refuses_ineligible_reviewers_missing_scopes_and_strangers(partners, client):
    integration = published(partners)
    _u, _o, unused = reviewer(integration, name="Idle", calls=0)
    url = f"/api/v1/marketplace/integrations/{integration.slug}/reviews"
    payload = {"rating": 5, "body": "Great"}
    assert client.post(url, payload, content_type="application/json").status_code == 401
    not_eligible = client.post(
        url, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {_key(unused)}"
    )
    assert not_eligible.status_code == 403
    assert not_eligible.json()["type"].endswith("/problems/review-not-eligible")
    _u2, _o2, author = reviewer(integration, name="Acme")
    review = _review(integration, author, rating=5)
    read_key = _key(unused, scopes=("installs:read",))
    no_scope = client.post(url, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert no_scope.status_code == 403
    stranger = client.patch(
        f"/api/v1/marketplace/reviews/{review.public_id}",
        {"rating": 1},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {_key(unused)}",
    )
    assert stranger.status_code == 404
    review.refresh_from_db()
    assert review.rating == 5
    assert Review.objects.count() == 1


def test_the_problem_types_used_are_registered():
    from portal.problems import PROBLEM_TYPES

    assert {"review-not-eligible", "review-exists"} <= set(PROBLEM_TYPES)


# ---- admin ---------------------------------------------------------------------------------


def test_the_admin_hides_selected_reviews_only_with_a_reason(partners, client):
    integration = published(partners)
    review = _review(integration, reviewer(integration, name="Acme")[2], rating=1)
    client.force_login(make_user("root@portal.test", is_staff=True, is_superuser=True))
    url = reverse("admin:marketplace_review_changelist")
    client.post(url, {"action": "hide", "_selected_action": [review.pk], "reason": ""})
    review.refresh_from_db()
    assert review.hidden_at is None
    client.post(url, {"action": "hide", "_selected_action": [review.pk], "reason": "Off-topic"})
    review.refresh_from_db()
    assert review.hidden_reason == "Off-topic"
    assert _figures(integration) == (0, 0, Decimal("0.00"))
    client.post(url, {"action": "unhide", "_selected_action": [review.pk], "reason": "Appeal"})
    review.refresh_from_db()
    assert review.hidden_at is None
    assert _figures(integration) == (1, 1, Decimal("1.00"))


# ---- concurrency (PostgreSQL) --------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_keep_the_count_sum_and_average_exact(partners):
    integration = published(partners)
    members = [reviewer(integration, name=f"Team {n}")[2] for n in range(10)]
    late = reviewer(integration, name="Late")[2]
    ratings = [1 + n % 5 for n in range(10)]
    start = threading.Barrier(len(members))
    errors: list[BaseException] = []

    def write(membership, rating):
        try:
            start.wait(5)
            _review(integration, membership, rating=rating, body=f"{rating} stars")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=pair) for pair in zip(members, ratings, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    # An edit, a hide and a late review racing each other must also leave the figures exact.
    first = Review.objects.filter(organization=members[0].organization).get()
    last = Review.objects.filter(organization=members[-1].organization).get()

    def race(act, kwargs):
        try:
            act(**kwargs)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    racers = [
        (services.review_update, {"review": first, "actor": members[0], "rating": 5}),
        (services.review_hide, {"review": last, "actor": partners.staff, "reason": "Spam"}),
        (services.review_create, {"actor": late, "integration": integration, "rating": 2, "body": "late"}),
    ]
    threads = [threading.Thread(target=race, args=pair) for pair in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    visible = Review.objects.filter(integration=integration, hidden_at__isnull=True)
    truth = visible.aggregate(n=Count("id"), s=Sum("rating"))
    count, total, average = _figures(integration)
    # Ten reviews, one edited from 1 to 5 stars, one of 5 stars hidden, one late review of 2.
    assert (count, total) == (truth["n"], truth["s"]) == (10, sum(ratings) - ratings[0] + 5 - ratings[-1] + 2)
    assert average == (Decimal(truth["s"]) / truth["n"]).quantize(Decimal("0.01"))
