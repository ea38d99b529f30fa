import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, UserSession
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"


def _signed_in_client(user, user_agent=FIREFOX, ip="127.0.0.1"):
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert client.post(reverse("accounts:login"), {"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def test_the_settings_page_lists_sessions_and_marks_this_device(django_assert_max_num_queries):
    user = make_user("sam@example.com")
    phone = _signed_in_client(user, CHROME_ANDROID, "198.51.100.4")
    me = _signed_in_client(user)
    with django_assert_max_num_queries(12):
        response = me.get(reverse("accounts:settings"))
    assert response.status_code == 200
    sessions = response.context["sessions"]
    assert len(sessions) == 2
    current = [s for s in sessions if s["is_current"]]
    assert len(current) == 1 and current[0]["browser"] == "Firefox on Linux"
    assert b"This device" in response.content
    assert b"Chrome on Android" in response.content
    assert b"198.51.100.4" in response.content
    assert phone.get(reverse("accounts:settings")).status_code == 200


def test_ending_another_session_signs_that_browser_out(client):
    user = make_user("sam@example.com")
    phone = _signed_in_client(user, CHROME_ANDROID)
    me = _signed_in_client(user)
    phone_row = UserSession.objects.get(user=user, user_agent=CHROME_ANDROID)
    response = me.post(reverse("accounts:session_end", args=[phone_row.public_id]))
    assert response["Location"] == reverse("accounts:settings")
    assert not UserSession.objects.filter(pk=phone_row.pk).exists()
    assert not Session.objects.filter(session_key=phone_row.session_key).exists()
    assert phone.get(reverse("accounts:settings")).status_code == 302
    assert me.get(reverse("accounts:settings")).status_code == 200
    assert AuditLog.objects.filter(action="user.session_ended", actor=user).exists()


def test_ending_this_session_from_the_list_is_refused_in_favour_of_logout():
    user = make_user("sam@example.com")
    me = _signed_in_client(user)
    row = UserSession.objects.get(user=user)
    me.post(reverse("accounts:session_end", args=[row.public_id]))
    assert UserSession.objects.filter(pk=row.pk).exists()
    assert me.get(reverse("accounts:settings")).status_code == 200


def test_another_users_session_id_is_a_404():
    owner = make_user("sam@example.com")
    _signed_in_client(owner)
    theirs = UserSession.objects.get(user=owner)
    intruder = _signed_in_client(make_user("ivy@example.com"))
    response = intruder.post(reverse("accounts:session_end", args=[theirs.public_id]))
    assert response.status_code == 404
    assert UserSession.objects.filter(pk=theirs.pk).exists()


def test_ending_a_session_is_post_only():
    user = make_user("sam@example.com")
    me = _signed_in_client(user)
    row = UserSession.objects.get(user=user)
    assert me.get(reverse("accounts:session_end", args=[row.public_id])).status_code == 405


def test_ending_a_session_needs_a_csrf_token():
    user = make_user("sam@example.com")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    other = _signed_in_client(user, CHROME_ANDROID)
    row = UserSession.objects.get(user=user)
    assert strict.post(reverse("accounts:session_end", args=[row.public_id])).status_code == 403
    assert other.get(reverse("accounts:settings")).status_code == 200


def test_expired_sessions_drop_out_of_the_list():
    user = make_user("sam@example.com")
    _signed_in_client(user, CHROME_ANDROID)
    me = _signed_in_client(user)
    gone = UserSession.objects.get(user=user, user_agent=CHROME_ANDROID)
    Session.objects.filter(session_key=gone.session_key).delete()
    response = me.get(reverse("accounts:settings"))
    assert len(response.context["sessions"]) == 1
    assert not UserSession.objects.filter(pk=gone.pk).exists()


def test_the_profile_name_can_be_changed(client):
    user = make_user("sam@example.com")
    client.force_login(user)
    response = client.post(reverse("accounts:settings"), {"full_name": "Samantha Smith"})
    assert response["Location"] == reverse("accounts:settings")
    user.refresh_from_db()
    assert user.full_name == "Samantha Smith"
    assert AuditLog.objects.filter(action="user.profile_updated", actor=user).exists()


def test_an_empty_name_is_refused_next_to_the_field(client):
    client.force_login(make_user("sam@example.com"))
    response = client.post(reverse("accounts:settings"), {"full_name": ""})
    assert response.context["profile_form"].errors["full_name"]


def test_settings_need_a_signed_in_user(client):
    response = client.get(reverse("accounts:settings"))
    assert response["Location"] == f"{reverse('accounts:login')}?next={reverse('accounts:settings')}"


def test_browsing_keeps_the_sessions_last_seen_fresh_without_a_write_per_page(client, world):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import UserSession

    client.post("/accounts/login/", {"email": world.teammate.email, "password": world.password})
    row = UserSession.objects.get(user=world.teammate)
    long_ago = timezone.now() - timedelta(hours=3)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)

    session = client.session
    session["_seen_at"] = 0
    session.save()
    client.get("/dashboard/")
    row.refresh_from_db()
    assert row.last_seen_at > long_ago

    UserSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)
    client.get("/dashboard/")  # within the interval: no write
    row.refresh_from_db()
    assert row.last_seen_at == long_ago
