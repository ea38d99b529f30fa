"""The last owner survives concurrent demotions: a row-lock property, so real PostgreSQL."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts import services
from accounts.models import Membership, RoleName
from accounts.services import organizations
from tests.factories import add_member, make_org, make_user


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(monkeypatch):
    first_owner = make_user()
    organization = make_org(owner=first_owner)
    second_owner = make_user()
    add_member(organization, second_owner, RoleName.OWNER)

    original = organizations._owner_ids_locked
    first_holds_the_lock = threading.Event()

    def slow_locking(org):
        ids = original(org)
        if threading.current_thread().name == "first":
            # Hold the owner rows while the second demotion starts and must wait for them.
            first_holds_the_lock.set()
            time.sleep(0.3)
        return ids

    monkeypatch.setattr(organizations, "_owner_ids_locked", slow_locking)
    outcomes: dict[str, str] = {}

    def demote(name: str, actor_user, target_user):
        try:
            if name == "second":
                first_holds_the_lock.wait(5)
            actor = Membership.objects.get(user=actor_user, organization=organization)
            target = Membership.objects.get(user=target_user, organization=organization)
            services.member_role_change(membership=target, actor=actor, role=RoleName.ADMIN)
            outcomes[name] = "demoted"
        except ValidationError as exc:
            outcomes[name] = f"refused: {exc.messages[0]}"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, name="first", args=("first", first_owner, second_owner)),
        threading.Thread(target=demote, name="second", args=("second", second_owner, first_owner)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes["first"] == "demoted"
    assert outcomes["second"].startswith("refused: The organisation's last owner")
    assert list(
        Membership.objects.filter(organization=organization, role=RoleName.OWNER).values_list("user", flat=True)
    ) == [first_owner.pk]
