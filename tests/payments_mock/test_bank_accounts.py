"""Bank accounts: checksums, instant and micro-deposit verification, encryption at rest, masking."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from payments_mock import banking, services
from payments_mock.models import BankAccount, Payment
from portal import crypto

ACCOUNTS = "/api/v1/bank_accounts"
US = {"account_holder_name": "Jenny Rosen", "routing_number": "021000021", "account_number": "000123456789"}


def test_checksums():
    assert banking.aba_valid("110000000") and banking.aba_valid("021000021")
    assert not banking.aba_valid("021000022") and not banking.aba_valid("12345678")
    assert banking.iban_problem("DE89370400440532013000") is None
    assert banking.iban_problem("GB82WEST12345698765432") is None
    assert "check digits" in banking.iban_problem("DE89370400440532013001")
    assert "22 characters" in banking.iban_problem("DE8937040044053201300")
    assert "not supported" in banking.iban_problem("XX89370400440532013000")


def test_a_test_routing_number_verifies_instantly(api, events):
    body = api("post", ACCOUNTS, US | {"routing_number": "110000000"}).json()
    assert body["status"] == "verified" and body["verification_method"] == "instant"
    assert events() == ["bank_account.verified"]


def test_micro_deposits_verify_the_account(api, events):
    body = api("post", ACCOUNTS, US).json()
    assert body["id"].startswith("ba_")
    assert body["status"] == "pending_verification" and body["verification_attempts_remaining"] == 3
    verified = api("post", f"{ACCOUNTS}/{body['id']}/verify", {"amounts": [45, 32]})
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    assert events() == ["bank_account.verified"]
    again = api("post", f"{ACCOUNTS}/{body['id']}/verify", {"amounts": [32, 45]})
    assert again.status_code == 409


def test_three_wrong_attempts_lock_the_account(api, events):
    body = api("post", ACCOUNTS, US).json()
    path = f"{ACCOUNTS}/{body['id']}/verify"
    first = api("post", path, {"amounts": [1, 2]})
    assert first.status_code == 422 and "2 attempt(s) left" in first.json()["detail"]
    assert api("post", path, {"amounts": [1, 2]}).status_code == 422
    third = api("post", path, {"amounts": [1, 2]})
    assert third.status_code == 422 and "locked" in third.json()["detail"]
    assert api("get", f"{ACCOUNTS}/{body['id']}").json()["status"] == "verification_failed"
    assert api("post", path, {"amounts": [32, 45]}).status_code == 409  # right answer, too late
    assert events() == []


def test_an_iban_account_takes_its_country_and_currency(api):
    body = api("post", ACCOUNTS, {"account_holder_name": "Jörg Müller", "iban": "de89 3704 0044 0532 0130 00"}).json()
    assert (body["kind"], body["country"], body["currency"]) == ("iban", "DE", "eur")
    assert body["account_number"] == "••••3000" and body["routing_number"] is None


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"routing_number": "021000022"}, "routing_number"),
        ({"account_number": "12ab"}, "account_number"),
        ({"account_number": "1" * 18}, "account_number"),
        ({"routing_number": "", "account_number": ""}, "iban"),
        ({"iban": "DE89370400440532013001"}, "iban"),
    ],
)
def test_invalid_numbers_are_field_errors(api, payload, field):
    response = api("post", ACCOUNTS, US | payload)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_the_account_number_is_encrypted_at_rest_and_masked(api):
    body = api("post", ACCOUNTS, US).json()
    assert body["account_number"] == "••••6789" and "000123456789" not in str(body)
    row = BankAccount.objects.get(public_id=body["id"])
    assert row.account_number_encrypted.startswith("v1.") and "000123456789" not in row.account_number_encrypted
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM payments_mock_bankaccount")
        assert "000123456789" not in repr(cursor.fetchall())
    assert services.bank_account_number(row) == "000123456789"
    assert "000123456789" not in str(api("get", ACCOUNTS).json())


def test_rotation_reencrypts_with_the_new_key(api, settings):
    old_key = base64.urlsafe_b64encode(b"o" * 32).decode()
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    crypto.keyring.cache_clear()
    try:
        body = api("post", ACCOUNTS, US).json()
        settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
        crypto.keyring.cache_clear()
        row = BankAccount.objects.get(public_id=body["id"])
        assert crypto.keyring().needs_rotation(row.account_number_encrypted)
        assert services.bank_accounts_reencrypt() == 1
        row.refresh_from_db()
        assert not crypto.keyring().needs_rotation(row.account_number_encrypted)
        settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
        crypto.keyring.cache_clear()
        assert services.bank_account_number(row) == "000123456789"
        assert services.bank_accounts_reencrypt() == 0
    finally:
        crypto.keyring.cache_clear()


def test_a_verified_account_can_be_debited_and_settles_later(api):
    account = api("post", ACCOUNTS, US | {"routing_number": "110000000"}).json()
    payment = api("post", "/api/v1/payments", {"amount": 5000, "currency": "usd", "bank_account": account["id"]}).json()
    assert payment["status"] == "processing" and payment["bank_account"] == account["id"]
    Payment.objects.filter(public_id=payment["id"]).update(settle_at=timezone.now() - timedelta(seconds=1))
    services.settle_due()
    assert api("get", f"/api/v1/payments/{payment['id']}").json()["status"] == "succeeded"


def test_an_unverified_account_or_another_currency_cannot_be_debited(api):
    pending = api("post", ACCOUNTS, US).json()
    response = api("post", "/api/v1/payments", {"amount": 5000, "currency": "usd", "bank_account": pending["id"]})
    assert response.status_code == 400 and "bank_account" in response.json()["errors"]
    verified = api("post", ACCOUNTS, US | {"routing_number": "110000000"}).json()
    response = api("post", "/api/v1/payments", {"amount": 5000, "currency": "eur", "bank_account": verified["id"]})
    assert response.status_code == 400 and "currency" in response.json()["errors"]
