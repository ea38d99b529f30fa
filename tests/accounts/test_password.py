import re
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, UserSession
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-newer-passphrase-42"


def _signed_in_client(user, user_agent="Mozilla/5.0 Firefox/128.0"):
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post(reverse("accounts:login"), {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _reset_link(mail) -> str:
    return urlsplit(re.search(r"http://\S+/accounts/password-reset/\S+/\S+/", mail.body).group(0)).path


def test_a_reset_link_is_sent_and_sets_a_new_password_ending_every_session(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user("rita@example.com", verified=False)
    other = _signed_in_client(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": "RITA@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mailoutbox) == 1
    link = _reset_link(mailoutbox[0])

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    set_password_url = form_page.redirect_chain[-1][0]
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.email_verified_at is not None  # the link proved the address
    assert not UserSession.objects.filter(user=user).exists()
    assert other.get(reverse("accounts:settings")).status_code == 302
    assert AuditLog.objects.filter(action="user.password_reset", actor=user).exists()
    assert "password was changed" in mailoutbox[-1].subject

    # The link works once.
    again = client.get(link, follow=True)
    assert not again.context["validlink"]


def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mailoutbox == []


def test_a_weak_new_password_is_refused_next_to_the_field(client, mailoutbox, django_capture_on_commit_callbacks):
    user = make_user("rita@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:password_reset"), {"email": user.email})
    form_page = client.get(_reset_link(mailoutbox[0]), follow=True)
    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_requests_are_throttled(client):
    for _ in range(3):
        client.post(reverse("accounts:password_reset"), {"email": "rita@example.com"})
    assert client.post(reverse("accounts:password_reset"), {"email": "Rita@example.com"}).status_code == 429


def test_changing_the_password_keeps_this_session_and_ends_the_others(mailoutbox, django_capture_on_commit_callbacks):
    user = make_user("rita@example.com")
    other = _signed_in_client(user, "Mozilla/5.0 Chrome/126.0")
    me = _signed_in_client(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = me.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
    assert response["Location"] == reverse("accounts:settings")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert me.get(reverse("accounts:settings")).status_code == 200
    assert other.get(reverse("accounts:settings")).status_code == 302
    rows = UserSession.objects.filter(user=user)
    assert [r.session_key for r in rows] == [me.session.session_key]
    assert Session.objects.filter(session_key=me.session.session_key).exists()
    assert AuditLog.objects.filter(action="user.password_changed", actor=user).exists()
    assert "password was changed" in mailoutbox[-1].subject


def test_changing_the_password_needs_the_current_one(client):
    user = make_user("rita@example.com")
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["old_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_password_change_page_needs_a_signed_in_user(client):
    response = client.get(reverse("accounts:password_change"))
    assert response["Location"].startswith(reverse("accounts:login"))
