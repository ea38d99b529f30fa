"""Review pages: an organisation writes or edits its review, the partner replies, staff hide
or restore a review. The list and the rating summary are partials of the detail page
(marketplace/templatetags/reviews.py). Changes go through marketplace.services; reads,
and the 404 for other organisations' reviews, through marketplace.selectors.

The forms live here rather than in marketplace/forms.py: they are small and only these
pages use them.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.decorators import org_permission_required, staff_required
from accounts.services import RequestMeta
from apikeys.views import _membership
from marketplace import selectors, services
from marketplace.services.reviews import MAX_BODY, MAX_REASON, MAX_TITLE
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import form_status

RATING_CHOICES = [
    (5, "5 stars: excellent"),
    (4, "4 stars: good"),
    (3, "3 stars: fair"),
    (2, "2 stars: poor"),
    (1, "1 star: bad"),
]


class ReviewWriteForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Give a rating from 1 to 5 stars.",
            "invalid_choice": "Give a rating from 1 to 5 stars.",
        },
    )
    title = forms.CharField(max_length=MAX_TITLE, required=False, help_text="Optional: the review in a few words.")
    body = forms.CharField(
        label="Your review",
        max_length=MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What did you use it for, what worked, what didn't? Shown as plain text.",
        error_messages={"required": "Say what worked and what didn't: the review needs text."},
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your public reply",
        max_length=MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Shown under the review, as plain text, with your organisation's name.",
        error_messages={"required": "Write the reply."},
    )


class ModerateForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the audit log with your name.",
        error_messages={"required": "Say why; the audit log keeps the reason."},
    )


_staff_required = staff_required("Only staff hide or restore reviews.")


def _detail_url(integration, anchor: str = "reviews") -> str:
    return reverse("marketplace:detail", args=[integration.slug]) + f"#{anchor}"


@org_permission_required("reviews:write")
@require_http_methods(["GET", "POST"])
def review_write(request, slug: str):
    """Write the organisation's review of an integration, or edit the one it wrote."""
    membership = _membership(request)
    integration = selectors.integration_get_public(slug=slug, viewer=membership)
    review = selectors.review_get_for_organization(integration=integration, organization=membership.organization)
    eligibility = None
    if review is None:
        eligibility = selectors.review_eligibility(integration=integration, organization=membership.organization)
    initial = {"rating": review.rating, "title": review.title, "body": review.body} if review else None
    form = ReviewWriteForm(request.POST or None, initial=initial)
    blocked = eligibility is not None and not eligibility.allowed
    if request.method == "POST" and not blocked and form.is_valid():
        data = form.cleaned_data
        meta = RequestMeta.from_request(request)
        try:
            if review is None:
                review = services.review_create(
                    actor=membership,
                    integration=integration,
                    rating=data["rating"],
                    title=data["title"],
                    body=data["body"],
                    meta=meta,
                )
                messages.success(request, "Thanks: your review is published.")
            else:
                services.review_update(
                    review=review,
                    actor=membership,
                    rating=data["rating"],
                    title=data["title"],
                    body=data["body"],
                    meta=meta,
                )
                messages.success(request, "Your review is updated.")
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect(_detail_url(integration, review.public_id))
    context = {"integration": integration, "review": review, "form": form, "eligibility": eligibility}
    status = 403 if blocked and request.method == "POST" else form_status(form)
    return render(request, "marketplace/review_write.html", context, status=status)


@org_permission_required("reviews:write")
@require_http_methods(["GET", "POST"])
def review_reply(request, public_id: str):
    """The partner's public reply to a review of one of its integrations."""
    membership = _membership(request)
    review = selectors.review_get_for_partner(actor=membership, public_id=public_id)
    form = ReplyForm(request.POST or None, initial={"body": review.reply_body} if review.reply_body else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_reply(
                review=review, actor=membership, body=form.cleaned_data["body"], meta=RequestMeta.from_request(request)
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Your reply is published under the review.")
            return redirect(_detail_url(review.integration, review.public_id))
    return render(request, "marketplace/review_reply.html", {"review": review, "form": form}, status=form_status(form))


@_staff_required
@require_http_methods(["GET", "POST"])
def review_moderate(request, public_id: str):
    """Staff hide a review (out of the list and the rating) or restore it, with a reason."""
    review = selectors.review_get_for_staff(public_id=public_id)
    form = ModerateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        act = services.review_unhide if review.is_hidden else services.review_hide
        try:
            act(
                review=review,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            if review.is_hidden:
                messages.success(request, "The review is shown again and counts in the rating.")
            else:
                messages.success(request, "The review is hidden from the marketplace and out of the rating.")
            return redirect(_detail_url(review.integration))
    context = {"review": review, "form": form}
    return render(request, "marketplace/review_moderate.html", context, status=form_status(form))
