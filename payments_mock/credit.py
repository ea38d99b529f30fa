"""Simulated credit scoring: two models over the applicant's inputs, no hidden state.

Both models are plain scorecards, so the same inputs always give the same answer and
every point can be explained:
- `bureau`: a 300-850 score in the style of FICO, from payment history (delinquencies),
  utilisation, length of history, recent inquiries and the number of open accounts;
- `internal`: an A-E risk grade from an estimated probability of default, which also
  weighs affordability (debt-to-income after the requested loan) and employment.
Each answer lists the factors with their point impact, the largest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BUREAU_MIN, BUREAU_MAX = 300, 850
GRADES = (("A", 0.02), ("B", 0.05), ("C", 0.10), ("D", 0.20), ("E", 1.0))  # grade, highest default probability


@dataclass(frozen=True)
class Applicant:
    annual_income: int  # minor units
    monthly_debt_payments: int  # minor units
    requested_amount: int  # minor units
    credit_history_months: int
    open_accounts: int
    credit_utilization: int  # percent of revolving limits used, 0-100
    delinquencies_24m: int
    inquiries_6m: int
    employment_months: int


def _factor(code: str, impact: float, description: str) -> dict:
    return {"code": code, "impact": round(impact), "description": description}


def bureau_score(a: Applicant) -> tuple[int, list[dict]]:
    factors = [
        _factor(
            "payment_history",
            90 - 70 * min(a.delinquencies_24m, 4),
            f"{a.delinquencies_24m} late payment(s) in the last 24 months.",
        ),
        _factor(
            "credit_utilization",
            80 - 2.2 * a.credit_utilization,
            f"{a.credit_utilization}% of revolving credit in use (under 30% helps).",
        ),
        _factor(
            "length_of_history",
            -60 + 110 * min(a.credit_history_months, 240) / 240,
            f"{a.credit_history_months} months of credit history.",
        ),
        _factor(
            "recent_inquiries", 20 - 15 * min(a.inquiries_6m, 6), f"{a.inquiries_6m} credit inquiries in 6 months."
        ),
        _factor(
            "credit_mix",
            -20 + 10 * min(a.open_accounts, 5) - 5 * max(0, a.open_accounts - 12),
            f"{a.open_accounts} open accounts.",
        ),
    ]
    score = 640 + sum(f["impact"] for f in factors)
    factors.sort(key=lambda f: (-abs(f["impact"]), f["code"]))
    return max(BUREAU_MIN, min(BUREAU_MAX, score)), factors


def internal_grade(a: Applicant, bureau: int) -> tuple[str, float, list[dict]]:
    monthly_income = a.annual_income / 12 if a.annual_income else 0
    # The new loan as if repaid over 36 months.
    new_payment = a.requested_amount / 36
    dti = (a.monthly_debt_payments + new_payment) / monthly_income if monthly_income else 10.0
    contributions = [
        ("bureau_score", -(bureau - 680) / 40, f"Bureau score {bureau}."),
        ("debt_to_income", 4.0 * (dti - 0.35), f"Debt-to-income after the loan {dti:.0%} (under 35% helps)."),
        (
            "employment_stability",
            0.6 - 1.2 * min(a.employment_months, 60) / 60,
            f"{a.employment_months} months in current employment.",
        ),
        ("delinquencies", 0.5 * min(a.delinquencies_24m, 4), f"{a.delinquencies_24m} recent late payment(s)."),
    ]
    logit = -3.2 + sum(value for _, value, _ in contributions)
    probability = 1 / (1 + math.exp(-logit))
    grade = next(g for g, ceiling in GRADES if probability <= ceiling)
    factors = [
        {"code": code, "impact": round(-value * 100), "description": text} for code, value, text in contributions
    ]
    factors.sort(key=lambda f: (-abs(f["impact"]), f["code"]))
    return grade, probability, factors


def score(a: Applicant) -> dict:
    bureau, bureau_factors = bureau_score(a)
    grade, probability, grade_factors = internal_grade(a, bureau)
    return {
        "bureau": {"model": "bureau_v1", "score": bureau, "range": [BUREAU_MIN, BUREAU_MAX], "factors": bureau_factors},
        "internal": {
            "model": "internal_v1",
            "grade": grade,
            "probability_of_default": round(probability, 4),
            "factors": grade_factors,
        },
        "decision": "approve" if grade in {"A", "B"} else "review" if grade == "C" else "decline",
    }
