"""The organisation area in a real browser: invite a teammate by e-mail, accept in a
second browser, switch organisations, and render every organisation page at desktop
and phone widths without horizontal overflow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounts import services
from accounts.models import Membership, Organization, Role
from tests.e2e.conftest import fits, shot, sign_in_as
from tests.factories import make_org, make_user

LINK = re.compile(r"https?://[^\s\"<>]+(/accounts/invitations/[\w-]+/)")

PAGES = {
    "org-settings": ("/accounts/organization/", "Profile"),
    "org-security": ("/accounts/organization/security/", "Two-factor authentication"),
    "members": ("/accounts/organization/members/", "Invite a member"),
    "roles": ("/accounts/organization/roles/", "Built-in roles"),
    "role-form": ("/accounts/organization/roles/new/", "New custom role"),
    "org-transfer": ("/accounts/organization/transfer/", "Transfer ownership"),
    "org-create": ("/accounts/organizations/new/", "Create an organisation"),
    "audit-log": ("/accounts/organization/audit-log/", "Audit log"),
}


def _invitation_path(mail_dir: Path) -> str:
    for log in sorted(mail_dir.glob("*.log")):
        match = LINK.search(log.read_text())
        if match:
            return match.group(1)
    raise AssertionError(f"no invitation link in {list(mail_dir.iterdir())}")


@pytest.fixture
def mail_dir(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    return tmp_path


@pytest.fixture
def acme(transactional_db):
    owner = make_user("olivia@acme.test", full_name="Olivia Owner")
    org = make_org("Acme Payments", owner=owner)
    partner_org = make_org("Initech Partners", owner=owner, kind="partner")
    teammate = make_user("tom@acme.test", full_name="Tom Teammate")
    Role.objects.create(organization=org, name="Support desk", permissions=["support:read", "support:write"])
    return owner, org, partner_org, teammate


def test_an_owner_invites_a_teammate_who_accepts_in_another_browser(page, new_page, live_server, mail_dir, acme):
    owner, org, partner_org, teammate = acme
    sign_in_as(page, live_server, owner)
    page.goto("/dashboard/")
    _switch(page, org)
    page.goto("/accounts/organization/members/")
    page.fill("input[name=email]", "tom@acme.test")
    page.select_option("select[name=role]", "developer")
    page.click("button:has-text('Send invitation')")
    page.wait_for_selector("text=Invitation sent to tom@acme.test")
    assert page.locator(".invitation-list").get_by_text("tom@acme.test").is_visible()

    path = _invitation_path(mail_dir)
    teammate_page = new_page()
    sign_in_as(teammate_page, live_server, teammate)
    teammate_page.goto(path)
    assert teammate_page.get_by_role("heading", name="Join Acme Payments").is_visible()
    shot(teammate_page, "invitation-accept")
    teammate_page.click("button:has-text('Accept and join')")
    teammate_page.wait_for_selector("text=Welcome to Acme Payments")
    assert Membership.objects.filter(user=teammate, organization=org, role="developer").exists()

    page.goto("/accounts/organization/members/")
    assert page.locator("tr[data-member='tom@acme.test']").is_visible()
    assert page.get_by_text("No pending invitations.").is_visible()

    # The owner changes the new member's role on the member page.
    page.locator("tr[data-member='tom@acme.test']").get_by_role("link", name="Change role").click()
    page.wait_for_selector("text=Save role")
    shot(page, "member-edit")
    page.select_option("select[name=role]", label="Support desk (custom)")
    page.click("button:has-text('Save role')")
    page.wait_for_selector("text=Tom Teammate is now Support desk")


def test_the_switcher_changes_the_current_organisation(page, live_server, acme):
    owner, org, partner_org, _ = acme
    sign_in_as(page, live_server, owner)
    page.goto("/dashboard/")
    page.select_option("#org-switch", partner_org.public_id)
    page.wait_for_selector("text=You are now working in Initech Partners")
    assert page.locator("h1", has_text="Initech Partners").is_visible()
    page.goto("/accounts/partner/")
    assert page.get_by_role("heading", name="Partner profile").is_visible()
    page.fill("input[name=legal_name]", "Initech GmbH")
    page.click("button:has-text('Save profile')")
    page.wait_for_selector("text=Profile saved.")
    page.click("button:has-text('Submit for verification')")
    assert page.get_by_text("Complete the profile first").is_visible()
    shot(page, "partner-profile")
    page.select_option("#org-switch", org.public_id)
    page.wait_for_selector("text=You are now working in Acme Payments")
    assert Organization.objects.get(pk=org.pk).name == "Acme Payments"


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_organisation_page_renders_and_fits_the_screen(new_page, live_server, acme, phone):
    owner, org, partner_org, teammate = acme
    Membership.objects.create(user=teammate, organization=org, role="read_only")
    page = new_page(phone=phone)
    sign_in_as(page, live_server, owner)
    page.goto("/dashboard/")
    _switch(page, partner_org)
    page.goto("/accounts/partner/")
    assert page.get_by_role("heading", name="Partner profile").is_visible()
    assert fits(page), "partner-profile overflows"
    shot(page, "partner-profile")

    _switch(page, org)
    for name, (path, text) in PAGES.items():
        page.goto(path)
        assert page.get_by_role("heading", name=text).first.is_visible(), name
        assert fits(page), f"{name} overflows"
        shot(page, name)

    # An invitation for the owner into someone else's organisation, to show the accept page.
    globex = make_org("Globex", owner=make_user("gina@globex.test"))
    _, token = services.invitation_create(
        actor=Membership.objects.get(organization=globex), email=owner.email, role="developer"
    )
    page.goto(f"/accounts/invitations/{token}/")
    assert page.get_by_role("heading", name="Join Globex").is_visible()
    assert fits(page), "invitation-accept overflows"
    shot(page, "invitation-accept")

    member = Membership.objects.get(user=teammate, organization=org)
    page.goto(f"/accounts/organization/members/{member.public_id}/")
    assert page.get_by_role("heading", name="Tom Teammate").is_visible()
    assert fits(page), "member-edit overflows"
    shot(page, "member-edit")


def _switch(page, org) -> None:
    """Pick `org` in the top bar's switcher (it submits itself on change)."""
    page.select_option("#org-switch", org.public_id)
    page.wait_for_selector(f"text=You are now working in {org.name}")
