"""The documented test cards and test routing numbers: one table for the code and the docs.

Any other number that passes the Luhn check behaves like the success card. Amounts do
not change the outcome; the card does. Expiry and CVC are checked like a real
processor would (an expiry in the past is refused at tokenisation), except that the
"expired card" and "incorrect CVC" cards simulate the issuer's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestCard:
    number: str
    behavior: str
    description: str
    failure_code: str = ""
    failure_message: str = ""


SUCCESS = "success"
GENERIC_DECLINE = "generic_decline"
INSUFFICIENT_FUNDS = "insufficient_funds"
EXPIRED_CARD = "expired_card"
INCORRECT_CVC = "incorrect_cvc"
FRAUD_BLOCK = "fraud_block"
THREE_D_SECURE = "three_d_secure"
PROCESSING_DELAY = "processing_delay"
REFUND_FAILURE = "refund_failure"

TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", SUCCESS, "Visa: the payment succeeds."),
    TestCard("5555555555554444", SUCCESS, "Mastercard: the payment succeeds."),
    TestCard("378282246310005", SUCCESS, "American Express: the payment succeeds."),
    TestCard(
        "4000000000000002",
        GENERIC_DECLINE,
        "The issuer declines the payment without a reason.",
        "card_declined",
        "The card was declined.",
    ),
    TestCard(
        "4000000000009995",
        INSUFFICIENT_FUNDS,
        "Declined for insufficient funds.",
        "insufficient_funds",
        "The card has insufficient funds.",
    ),
    TestCard(
        "4000000000000069",
        EXPIRED_CARD,
        "Declined as expired by the issuer.",
        "expired_card",
        "The card has expired.",
    ),
    TestCard(
        "4000000000000127",
        INCORRECT_CVC,
        "Declined because the CVC does not match.",
        "incorrect_cvc",
        "The card's security code is incorrect.",
    ),
    TestCard(
        "4100000000000019",
        FRAUD_BLOCK,
        "Blocked by the risk engine (risk score 95).",
        "fraudulent",
        "The payment was blocked as likely fraudulent.",
    ),
    TestCard(
        "4000000000003220",
        THREE_D_SECURE,
        "Requires 3-D Secure: the payment waits in requires_action until confirmed with the 3-D Secure result.",
    ),
    TestCard(
        "4000000000000077",
        PROCESSING_DELAY,
        "Stays processing for a few seconds, then the settlement task marks it succeeded.",
    ),
    TestCard(
        "4000000000005126",
        REFUND_FAILURE,
        "The payment succeeds; refunds stay pending and then fail in settlement.",
    ),
)

CARDS_BY_NUMBER = {card.number: card for card in TEST_CARDS}
CARDS_BY_BEHAVIOR = {card.behavior: card for card in TEST_CARDS}  # the first card of each behaviour


def behavior_for(number: str) -> str:
    card = CARDS_BY_NUMBER.get(number)
    return card.behavior if card else SUCCESS


@dataclass(frozen=True)
class TestRoutingNumber:
    routing_number: str
    behavior: str
    description: str


INSTANT = "instant"
MICRO_DEPOSITS = "micro_deposits"

TEST_ROUTING_NUMBERS: tuple[TestRoutingNumber, ...] = (
    TestRoutingNumber("110000000", INSTANT, "Verified instantly when the account is added."),
    TestRoutingNumber("110000013", INSTANT, "Verified instantly when the account is added."),
    TestRoutingNumber(
        "021000021",
        MICRO_DEPOSITS,
        "Verified by micro-deposits; in test mode they are always 32 and 45 (minor units).",
    ),
)
INSTANT_ROUTING_NUMBERS = frozenset(r.routing_number for r in TEST_ROUTING_NUMBERS if r.behavior == INSTANT)
# Test mode sends these micro-deposits so integrators can script the confirmation step.
TEST_MICRO_DEPOSITS = (32, 45)
