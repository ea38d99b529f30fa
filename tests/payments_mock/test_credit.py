"""Credit scoring: two models, deterministic, explained, and sensitive to the right inputs."""

from __future__ import annotations

import pytest

GOOD = {
    "annual_income": 12_000_000,
    "monthly_debt_payments": 50_000,
    "requested_amount": 1_000_000,
    "credit_history_months": 180,
    "open_accounts": 5,
    "credit_utilization": 8,
    "delinquencies_24m": 0,
    "inquiries_6m": 0,
    "employment_months": 72,
}
POOR = GOOD | {
    "annual_income": 2_400_000,
    "monthly_debt_payments": 90_000,
    "requested_amount": 3_000_000,
    "credit_history_months": 8,
    "credit_utilization": 95,
    "delinquencies_24m": 3,
    "inquiries_6m": 5,
    "employment_months": 2,
}


def test_a_strong_applicant_scores_high_and_grades_a(api):
    body = api("post", "/api/v1/credit/scores", GOOD).json()
    assert 750 <= body["bureau"]["score"] <= 850
    assert body["internal"]["grade"] == "A" and body["decision"] == "approve"
    impacts = [abs(f["impact"]) for f in body["bureau"]["factors"]]
    assert impacts == sorted(impacts, reverse=True)
    assert {f["code"] for f in body["bureau"]["factors"]} >= {"payment_history", "credit_utilization"}


def test_a_weak_applicant_scores_low_and_grades_e(api):
    body = api("post", "/api/v1/credit/scores", POOR).json()
    assert 300 <= body["bureau"]["score"] < 580
    assert body["internal"]["grade"] == "E" and body["decision"] == "decline"
    assert body["bureau"]["factors"][0]["impact"] < 0


def test_the_same_inputs_give_the_same_answer(api):
    assert api("post", "/api/v1/credit/scores", GOOD).json() == api("post", "/api/v1/credit/scores", GOOD).json()


def test_more_delinquencies_never_raise_the_score(api):
    scores = [
        api("post", "/api/v1/credit/scores", GOOD | {"delinquencies_24m": n}).json()["bureau"]["score"]
        for n in range(4)
    ]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_scores_stay_within_their_ranges_at_the_extremes(api):
    worst = POOR | {"annual_income": 0, "delinquencies_24m": 100, "inquiries_6m": 100, "open_accounts": 200}
    body = api("post", "/api/v1/credit/scores", worst).json()
    assert body["bureau"]["score"] == 300 and body["internal"]["grade"] == "E"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"credit_utilization": 101}, "credit_utilization"),
        ({"annual_income": -1}, "annual_income"),
        ({"annual_income": 1.5}, "annual_income"),
        ({"currency": "ABC"}, "currency"),
        ({"credit_history_months": None}, "credit_history_months"),
    ],
)
def test_bad_inputs_are_field_errors(api, change, field):
    response = api("post", "/api/v1/credit/scores", GOOD | change)
    assert response.status_code == 400 and field in response.json()["errors"]
