import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import (
    AuditLog,
    EmailCode,
    Invitation,
    KnownDevice,
    LoginAttempt,
    Membership,
    Organization,
    PartnerProfile,
    Plan,
    RecoveryCode,
    Role,
    TOTPDevice,
    User,
    UserSession,
)
from tests.factories import add_member, make_org, make_user

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_partnerprofile_changelist")


@pytest.fixture
def secrets_world(world):
    """One row of every accounts model, with secret-looking values that must never show."""
    services.invitation_create(actor=world.membership(world.owner), email="inv@acme.test", role="developer")
    Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    now = timezone.now()
    TOTPDevice.objects.create(user=world.owner, secret_encrypted="CIPHERTEXT-SECRET", confirmed_at=now)
    RecoveryCode.objects.create(user=world.owner, code_hash="RECOVERY-HASH-VALUE")
    EmailCode.objects.create(user=world.owner, code_hash="EMAILCODE-HASH-VALUE", expires_at=now)
    KnownDevice.objects.create(user=world.owner, fingerprint="FINGERPRINT-VALUE", user_agent="Firefox")
    UserSession.objects.create(user=world.owner, session_key="SESSIONKEYVALUE", user_agent="Firefox")
    LoginAttempt.objects.create(email="owner@acme.test", succeeded=False, reason="bad_password")
    services.audit_record(action="test.thing", actor=world.owner, organization=world.org)
    return world


MODELS = [
    User,
    Plan,
    Organization,
    Membership,
    Role,
    Invitation,
    PartnerProfile,
    AuditLog,
    LoginAttempt,
    KnownDevice,
    UserSession,
    TOTPDevice,
    RecoveryCode,
    EmailCode,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_accounts_model_has_a_working_admin_list_and_detail(admin_client, secrets_world, model):
    if model is PartnerProfile:
        make_org("Initech", owner=make_user(), kind="partner")
    name = model._meta.model_name
    assert admin_client.get(reverse(f"admin:accounts_{name}_changelist")).status_code == 200
    obj = model._default_manager.first()
    response = admin_client.get(reverse(f"admin:accounts_{name}_change", args=[obj.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    for secret in ("CIPHERTEXT-SECRET", "RECOVERY-HASH", "EMAILCODE-HASH", "FINGERPRINT-VALUE", "SESSIONKEYVALUE"):
        assert secret not in body
    if model is Invitation:
        assert obj.token_hash not in body


def test_the_user_admin_searches_by_email(admin_client, world):
    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "viewer@"})
    assert "viewer@acme.test" in response.content.decode()
    assert "dev@acme.test" not in response.content.decode()


def test_staff_add_a_user_by_email(admin_client, db):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-enough-passphrase-42")


def test_the_audit_log_admin_is_read_only(admin_client, secrets_world):
    entry = AuditLog.objects.first()
    assert admin_client.get(reverse("admin:accounts_auditlog_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_auditlog_delete", args=[entry.pk])).status_code == 403
    response = admin_client.post(reverse("admin:accounts_auditlog_change", args=[entry.pk]), {"action": "forged"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.action == "test.thing"
    body = admin_client.get(reverse("admin:accounts_auditlog_changelist"), {"q": "owner@acme"}).content.decode()
    assert "test.thing" in body


def test_editing_a_plan_in_admin_works(admin_client, db):
    plan = Plan.objects.get(is_default=True)
    response = admin_client.get(reverse("admin:accounts_plan_change", args=[plan.pk]))
    assert response.status_code == 200


@pytest.fixture
def pending_partner(db):
    owner = make_user("owner@initech.test")
    org = make_org("Initech", owner=owner, kind="partner")
    add_member(org, make_user("admin@initech.test"), "admin")
    add_member(org, make_user("dev@initech.test"), "developer")
    PartnerProfile.objects.filter(organization=org).update(
        legal_name="Initech GmbH",
        registration_number="HRB 1",
        country="DE",
        website="https://initech.test",
        address="Berlin",
        contact_name="Peter",
        contact_email="peter@initech.test",
        verification_status="pending",
        submitted_at=timezone.now(),
    )
    return PartnerProfile.objects.get(organization=org)


def test_staff_verify_a_partner_and_owners_and_admins_are_emailed(
    admin_client, admin_user, pending_partner, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST, {"action": "verify_selected", ACTION_CHECKBOX_NAME: [pending_partner.pk]}
        )
    assert response.status_code == 302
    pending_partner.refresh_from_db()
    assert pending_partner.verification_status == "verified"
    assert pending_partner.decided_by == admin_user
    assert [sorted(m.to) for m in mailoutbox] == [["admin@initech.test", "owner@initech.test"]]
    assert "verified" in mailoutbox[0].subject
    assert AuditLog.objects.filter(action="partner.verified", actor=admin_user).exists()


def test_an_incomplete_profile_cannot_be_verified(admin_client, pending_partner, mailoutbox):
    PartnerProfile.objects.filter(pk=pending_partner.pk).update(legal_name="")
    admin_client.post(CHANGELIST, {"action": "verify_selected", ACTION_CHECKBOX_NAME: [pending_partner.pk]})
    pending_partner.refresh_from_db()
    assert pending_partner.verification_status == "pending"
    assert mailoutbox == []


def test_rejecting_asks_for_a_reason_first(admin_client, pending_partner):
    response = admin_client.post(CHANGELIST, {"action": "reject_selected", ACTION_CHECKBOX_NAME: [pending_partner.pk]})
    assert response.status_code == 200
    assert "Reject and e-mail the partner" in response.content.decode()
    pending_partner.refresh_from_db()
    assert pending_partner.verification_status == "pending"


def test_rejecting_without_a_reason_is_refused(admin_client, pending_partner, mailoutbox):
    response = admin_client.post(
        CHANGELIST,
        {"action": "reject_selected", ACTION_CHECKBOX_NAME: [pending_partner.pk], "apply": "1", "reason": "  "},
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    pending_partner.refresh_from_db()
    assert pending_partner.verification_status == "pending"
    assert mailoutbox == []


def test_staff_reject_a_partner_with_a_reason_that_is_emailed(
    admin_client, pending_partner, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {
                "action": "reject_selected",
                ACTION_CHECKBOX_NAME: [pending_partner.pk],
                "apply": "1",
                "reason": "The registration number is not in the register.",
            },
        )
    assert response.status_code == 302
    pending_partner.refresh_from_db()
    assert pending_partner.verification_status == "rejected"
    assert pending_partner.rejection_reason == "The registration number is not in the register."
    assert len(mailoutbox) == 1
    assert "not in the register" in mailoutbox[0].body
    assert AuditLog.objects.filter(action="partner.rejected").exists()


def test_the_decide_service_refuses_a_rejection_without_reason(pending_partner, admin_user):
    with pytest.raises(ValidationError, match="needs a reason"):
        services.partner_verification_decide(profile=pending_partner, decision="rejected", reason="", actor=admin_user)


def test_a_non_staff_user_cannot_open_the_admin(client, world):
    client.force_login(world.owner)
    response = client.get(reverse("admin:accounts_partnerprofile_changelist"))
    assert response.status_code == 302
