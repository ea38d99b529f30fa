"""The key services: who may create what, naming policy, life cycle, audit, leaks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLog
from apikeys import services
from apikeys.conf import pepper_ring
from apikeys.models import ApiKey, KeyPolicy, KeyTemplate
from portal.lib import keys as keyfmt
from portal.problems import ProblemException


def create(world, user=None, **kwargs):
    membership = world.membership(user or world.owner)
    kwargs.setdefault("name", "Backend")
    kwargs.setdefault("environment", "test")
    kwargs.setdefault("scopes", ["payments:read"])
    return services.apikey_create(organization=world.org, actor_membership=membership, **kwargs)


def test_a_new_key_stores_only_a_peppered_digest_and_is_audited(world):
    key, full = create(world)
    parsed = keyfmt.parse_key(full)
    assert key.lookup_id == parsed.lookup_id and key.last4 == full[-4:]
    assert parsed.secret not in (key.digest, key.previous_digest)
    assert key.pepper_version == pepper_ring().current
    assert keyfmt.verify(parsed.secret, pepper_ring().get(key.pepper_version), key.digest)
    entry = AuditLog.objects.get(action="apikey.created")
    assert entry.target_id == key.public_id and entry.actor == world.owner


def test_a_member_cannot_grant_a_scope_they_do_not_hold(world):
    with pytest.raises(ValidationError) as caught:
        create(world, world.teammate, scopes=["payments:read", "audit:read"])
    assert caught.value.message_dict == {"scopes": ["You cannot grant audit:read: you do not hold it yourself."]}


def test_a_key_cannot_grant_more_than_it_holds_itself(world):
    with pytest.raises(ValidationError):
        create(world, scopes=["payments:write"], scope_ceiling=frozenset({"payments:read", "keys:manage"}))


def test_a_read_only_member_cannot_create_keys(world):
    with pytest.raises(ProblemException) as caught:
        create(world, world.read_only)
    assert caught.value.status_code == 403 and "keys:create" in str(caught.value.detail)
    assert not ApiKey.objects.exists()


def test_live_keys_need_the_live_permission(world):
    with pytest.raises(ProblemException) as caught:
        create(world, world.teammate, environment="live")
    assert "keys:live" in str(caught.value.detail)
    key, _ = create(world, world.admin, environment="live")
    assert key.livemode


def test_unknown_scopes_bad_ips_and_past_expiry_are_field_errors(world):
    with pytest.raises(ValidationError) as caught:
        create(world, scopes=["payments:fly"])
    assert "scopes" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        create(world, allowed_ips=["10.0.0.0/8", "not-an-ip"])
    assert caught.value.message_dict["allowed_ips"] == ["'not-an-ip' is not an IPv4 or IPv6 address or CIDR range."]
    with pytest.raises(ValidationError) as caught:
        create(world, expires_at=timezone.now() - timedelta(minutes=1))
    assert "expires_at" in caught.value.message_dict


def test_the_naming_policy_is_enforced(world):
    KeyPolicy.objects.create(organization=world.org, name_pattern=r"[a-z]+-(prod|dev)", name_message="Use team-env.")
    with pytest.raises(ValidationError) as caught:
        create(world, name="Backend")
    assert caught.value.message_dict == {"name": ["Use team-env."]}
    assert create(world, name="payments-dev")[0].name == "payments-dev"


def test_a_template_fills_what_the_caller_left_out(world):
    template = KeyTemplate.objects.create(
        organization=world.org,
        name="CI",
        environment="test",
        scopes=["payments:read", "refunds:read"],
        expires_in_days=30,
        rate_limit_per_hour=500,
        allowed_ips=["10.0.0.0/8"],
    )
    key, _ = create(world, scopes=[], template=template)
    assert key.scopes == ["payments:read", "refunds:read"]
    assert key.rate_limit_per_hour == 500 and key.allowed_ips == ["10.0.0.0/8"]
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)


def test_rotation_only_accepts_the_offered_grace_periods(world):
    key, _ = create(world)
    with pytest.raises(ValidationError):
        services.apikey_rotate(key=key, actor=world.membership(world.owner), grace=timedelta(hours=2))


def test_revocation_is_audited_and_notifies_the_admins(world, django_capture_on_commit_callbacks):
    key, _ = create(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.apikey_revoke(key=key, actor=world.membership(world.teammate), reason="no longer used")
    key.refresh_from_db()
    assert key.status == ApiKey.Status.REVOKED and key.revoked_reason == "no longer used"
    assert AuditLog.objects.filter(action="apikey.revoked", target_id=key.public_id).exists()
    assert sorted(mail.outbox[-1].to) == ["admin@acme.test", "owner@acme.test"]
    assert "revoked" in mail.outbox[-1].subject


def test_a_member_of_another_organisation_cannot_touch_the_key(world):
    key, _ = create(world)
    with pytest.raises(ProblemException):
        services.apikey_revoke(key=key, actor=world.membership(world.outsider, world.outsider_org))


def test_bulk_operations_change_every_key_or_none(world):
    keys = [create(world, name=f"k{i}")[0] for i in range(3)]
    owner = world.membership(world.owner)
    later = timezone.now() + timedelta(days=90)
    assert services.apikey_bulk_set_expiry(keys=keys, actor=owner, expires_at=later) == 3
    assert services.apikey_bulk_set_scopes(keys=keys, actor=owner, scopes=["refunds:read"]) == 3
    rotated = services.apikey_bulk_rotate(keys=keys, actor=owner, grace=timedelta(hours=24))
    assert len({secret for _, secret in rotated}) == 3
    assert services.apikey_bulk_revoke(keys=keys, actor=owner) == 3
    assert [k.scopes for k in ApiKey.objects.all()] == [["refunds:read"]] * 3
    assert ApiKey.objects.filter(revoked_at__isnull=False, expires_at=later).count() == 3
    with pytest.raises(ProblemException):
        services.apikey_bulk_set_scopes(keys=keys, actor=world.membership(world.read_only), scopes=["refunds:read"])


def test_a_leaked_live_key_is_revoked_at_once_and_the_owners_told(world, django_capture_on_commit_callbacks):
    key, full = create(world, world.admin, environment="live")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.apikey_report_leaked(raw=full) == key
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_reason == "Reported as leaked"
    assert AuditLog.objects.filter(action="apikey.leak_reported").exists()
    assert "owner@acme.test" in mail.outbox[-1].to


def test_a_leak_report_ignores_test_keys_forgeries_and_garbage(world):
    test_key, test_full = create(world)
    live_key, _ = create(world, environment="live")
    forged, _ = keyfmt.generate("live", lookup_id=live_key.lookup_id)
    for raw in (test_full, forged, "hello", ""):
        assert services.apikey_report_leaked(raw=raw) is None
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_expiry_notices_go_out_once_per_key_and_threshold(world, django_capture_on_commit_callbacks):
    now = timezone.now()
    soon, _ = create(world, name="soon", expires_at=now + timedelta(days=20))
    create(world, name="later", expires_at=now + timedelta(days=90))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.apikey_send_expiry_notices(now=now) == 1
        assert services.apikey_send_expiry_notices(now=now) == 0  # a second run sends nothing
    assert [m.subject for m in mail.outbox] == ['API key "soon" expires in 30 days']

    with django_capture_on_commit_callbacks(execute=True):
        # Two weeks on, inside both the 7- and the 1-day threshold at once: only the tightest.
        assert services.apikey_send_expiry_notices(now=now + timedelta(days=19, hours=12)) == 1
        assert services.apikey_send_expiry_notices(now=now + timedelta(days=19, hours=13)) == 0
    assert mail.outbox[-1].subject == 'API key "soon" expires in 1 day'
    assert "expires in 1 day." in mail.outbox[-1].body

    services.apikey_set_expiry(key=soon, actor=world.membership(world.owner), expires_at=now + timedelta(days=25))
    soon.refresh_from_db()
    assert soon.expiry_notice_days is None  # a moved expiry earns fresh notices
