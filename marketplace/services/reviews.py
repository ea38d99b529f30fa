"""Writes of reviews and ratings: organisations that installed and used an integration
review it (one review each, 1 to 5 stars, editable), its partner replies in public, staff
hide a review with a reason. Every change is audited.

Integration.rating_count / rating_sum / rating_average cover the visible reviews and are
kept in the same transaction as the change. Every write that can move them first locks
the integration row (SELECT ... FOR UPDATE), then recomputes them from the visible
reviews: concurrent reviews of one integration queue on that lock, and each recompute
sees every review committed before it, so the figures can't drift the way deltas applied
to a stale read could. SQLite has no row locks, but its immediate transactions let one
writer at a time through, which gives the same order.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, RoleName, User
from accounts.services import SYSTEM, RequestMeta, audit_record
from marketplace.models import Integration, Review
from marketplace.selectors.reviews import review_eligibility
from portal.emails import absolute_url, send_templated_email

MAX_TITLE = 120
MAX_BODY = 5000
MAX_REASON = 300
ALREADY_REVIEWED = "Your organisation has already reviewed this integration; edit that review instead."
CENTS = Decimal("0.01")


# ---- checks --------------------------------------------------------------------------------


def _require_writer(actor: Membership) -> None:
    if not actor.has_perm("reviews:write"):
        raise PermissionDenied("Your role does not include “reviews:write”.")


def _require_staff(actor: User) -> None:
    if not (actor and actor.is_authenticated and actor.is_staff):
        raise PermissionDenied("Only staff hide or restore reviews.")


def _clean_rating(rating: object) -> int:
    # bool is an int to Python; True stars are not a rating.
    if isinstance(rating, bool):
        rating = None
    try:
        value = int(rating)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = None
    if value is None or value < 1 or value > 5 or str(value) != str(rating).strip():
        raise ValidationError({"rating": ["Give a rating from 1 to 5 stars."]})
    return value


def _clean_text(errors: dict[str, list[str]], field: str, value: str, limit: int, required: str = "") -> str:
    value = (value or "").strip()
    if required and not value:
        errors[field] = [required]
    elif len(value) > limit:
        errors[field] = [f"At most {limit:,} characters (this has {len(value):,})."]
    return value


def _clean_review(*, rating: object, title: str, body: str) -> tuple[int, str, str]:
    errors: dict[str, list[str]] = {}
    try:
        rating = _clean_rating(rating)
    except ValidationError as error:
        errors.update(error.message_dict)
    title = _clean_text(errors, "title", title, MAX_TITLE)
    body = _clean_text(errors, "body", body, MAX_BODY, "Say what worked and what didn't: the review needs text.")
    if errors:
        raise ValidationError(errors)
    return rating, title, body  # type: ignore[return-value]


# ---- the aggregate -------------------------------------------------------------------------


def _lock_integration(integration: Integration) -> Integration:
    # of=("self",): the partner's organisation row needn't be locked along with it.
    return Integration.objects.select_for_update(of=("self",)).select_related("organization").get(pk=integration.pk)


def _lock_review(review: Review) -> tuple[Integration, Review]:
    """Lock the review's integration, then the review (always in that order, as every writer of
    ratings does), and return both fresh."""
    integration = _lock_integration(review.integration)
    review = Review.objects.select_for_update(of=("self",)).select_related("organization").get(pk=review.pk)
    return integration, review


def _ratings_recompute(integration: Integration) -> None:
    """Set the integration's rating figures from its visible reviews; call under its row lock."""
    totals = Review.objects.filter(integration=integration, hidden_at__isnull=True).aggregate(
        count=Count("id"), total=Sum("rating")
    )
    count, total = totals["count"], totals["total"] or 0
    integration.rating_count = count
    integration.rating_sum = total
    integration.rating_average = (Decimal(total) / count).quantize(CENTS, ROUND_HALF_UP) if count else Decimal("0.00")
    integration.save(update_fields=["rating_count", "rating_sum", "rating_average"])


# ---- e-mails -------------------------------------------------------------------------------


def _admin_emails(organization_id: int) -> list[str]:
    return list(
        Membership.objects.filter(organization_id=organization_id, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def _review_url(integration: Integration, review: Review) -> str:
    return absolute_url(reverse("marketplace:detail", args=[integration.slug]) + f"#{review.public_id}")


# ---- writes --------------------------------------------------------------------------------


def review_create(
    *,
    actor: Membership,
    integration: Integration,
    rating: int,
    body: str,
    title: str = "",
    meta: RequestMeta = SYSTEM,
) -> Review:
    """The actor's organisation reviews an integration it installed and made calls through.

    A second review by the same organisation is refused (the unique constraint is the
    last word when two arrive at once). The partner's owners and admins are e-mailed.
    """
    _require_writer(actor)
    rating, title, body = _clean_review(rating=rating, title=title, body=body)
    with transaction.atomic():
        integration = _lock_integration(integration)
        eligibility = review_eligibility(integration=integration, organization=actor.organization)
        if not eligibility.allowed:
            raise ValidationError(eligibility.reason, code="not_eligible")
        if Review.objects.filter(integration=integration, organization_id=actor.organization_id).exists():
            raise ValidationError(ALREADY_REVIEWED, code="already_reviewed")
        now = timezone.now()
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    integration=integration,
                    organization_id=actor.organization_id,
                    author=actor.user,
                    rating=rating,
                    title=title,
                    body=body,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            raise ValidationError(ALREADY_REVIEWED, code="already_reviewed") from None
        _ratings_recompute(integration)
        audit_record(
            action="review.created",
            actor=actor.user,
            organization=actor.organization,
            meta=meta,
            target=review,
            details={"integration": integration.public_id, "rating": rating},
        )
        send_templated_email(
            to=_admin_emails(integration.organization_id),
            template="review_created",
            context={
                "integration": integration.name,
                "reviewer": actor.organization.name,
                "rating": rating,
                "title": title,
                "body": body,
                "review_url": _review_url(integration, review),
                "reply_url": absolute_url(reverse("marketplace:review_reply", args=[review.public_id])),
            },
        )
    return review


def review_update(
    *,
    review: Review,
    actor: Membership,
    rating: int | None = None,
    title: str | None = None,
    body: str | None = None,
    meta: RequestMeta = SYSTEM,
) -> Review:
    """The reviewing organisation edits its review; arguments left out stay as they are."""
    _require_writer(actor)
    if review.organization_id != actor.organization_id:
        raise PermissionDenied("Only the organisation that wrote a review edits it.")
    with transaction.atomic():
        integration, review = _lock_review(review)
        rating, title, body = _clean_review(
            rating=review.rating if rating is None else rating,
            title=review.title if title is None else title,
            body=review.body if body is None else body,
        )
        before = {"rating": review.rating, "title": review.title, "body": review.body}
        changed = [
            field for field, value in (("rating", rating), ("title", title), ("body", body)) if value != before[field]
        ]
        if not changed:
            return review
        review.rating, review.title, review.body = rating, title, body
        review.updated_at = timezone.now()
        review.save(update_fields=[*changed, "updated_at"])
        if "rating" in changed and not review.is_hidden:
            _ratings_recompute(integration)
        details: dict = {"integration": integration.public_id, "fields": changed}
        if "rating" in changed:
            details["rating"] = {"from": before["rating"], "to": rating}
        audit_record(
            action="review.updated",
            actor=actor.user,
            organization=actor.organization,
            meta=meta,
            target=review,
            details=details,
        )
    return review


def review_reply(*, review: Review, actor: Membership, body: str, meta: RequestMeta = SYSTEM) -> Review:
    """The partner answers a review of its integration in public, or edits its answer.

    The reviewing organisation's author is e-mailed on the first reply, not on edits.
    """
    _require_writer(actor)
    if review.integration.organization_id != actor.organization_id:
        raise PermissionDenied("Only the partner that publishes the integration replies to its reviews.")
    errors: dict[str, list[str]] = {}
    body = _clean_text(errors, "body", body, MAX_BODY, "Write the reply.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = (
            Review.objects.select_for_update(of=("self",)).select_related("integration", "author").get(pk=review.pk)
        )
        if review.is_hidden:
            raise ValidationError("Staff hid this review; it can't be replied to.")
        first = not review.reply_body
        if review.reply_body == body:
            return review
        review.reply_body = body
        review.reply_by = actor.user
        review.reply_at = timezone.now()
        review.save(update_fields=["reply_body", "reply_by", "reply_at"])
        audit_record(
            action="review.replied" if first else "review.reply_updated",
            actor=actor.user,
            organization=actor.organization,
            meta=meta,
            target=review,
            details={"integration": review.integration.public_id},
        )
        if first and review.author is not None and review.author.is_active:
            send_templated_email(
                to=[review.author.email],
                template="review_replied",
                context={
                    "integration": review.integration.name,
                    "partner": actor.organization.name,
                    "body": body,
                    "review_url": _review_url(review.integration, review),
                },
            )
    return review


def review_hide(*, review: Review, actor: User, reason: str, meta: RequestMeta = SYSTEM) -> Review:
    """Staff take a review out of the public list and out of the rating, saying why."""
    _require_staff(actor)
    errors: dict[str, list[str]] = {}
    reason = _clean_text(errors, "reason", reason, MAX_REASON, "Say why the review is hidden; the audit log keeps it.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        integration, review = _lock_review(review)
        if review.is_hidden:
            raise ValidationError("This review is already hidden.")
        review.hidden_at = timezone.now()
        review.hidden_by = actor
        review.hidden_reason = reason
        review.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
        _ratings_recompute(integration)
        audit_record(
            action="review.hidden",
            actor=actor,
            organization=review.organization,
            meta=meta,
            target=review,
            details={"integration": integration.public_id, "reason": reason},
        )
    return review


def review_unhide(*, review: Review, actor: User, reason: str, meta: RequestMeta = SYSTEM) -> Review:
    """Staff put a hidden review back; it counts in the rating again."""
    _require_staff(actor)
    errors: dict[str, list[str]] = {}
    reason = _clean_text(errors, "reason", reason, MAX_REASON, "Say why the review is shown again.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        integration, review = _lock_review(review)
        if not review.is_hidden:
            raise ValidationError("This review is not hidden.")
        previous = review.hidden_reason
        review.hidden_at = None
        review.hidden_by = None
        review.hidden_reason = ""
        review.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
        _ratings_recompute(integration)
        audit_record(
            action="review.unhidden",
            actor=actor,
            organization=review.organization,
            meta=meta,
            target=review,
            details={"integration": integration.public_id, "reason": reason, "hidden_reason": previous},
        )
    return review
