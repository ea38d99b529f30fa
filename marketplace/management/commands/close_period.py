"""Close a billing period by hand: `manage.py close_period --month 2025-03` (default: last month).

The same service as the monthly beat task; running it again for a closed month changes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketplace import selectors, services


class Command(BaseCommand):
    help = "Close a marketplace billing period: post charges, shares and payouts, write statements, e-mail them."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="The month to close, YYYY-MM (default: the previous month, UTC).")

    def handle(self, *args, month: str | None = None, **options):
        try:
            chosen = selectors.parse_month(month) if month else None
            result = services.billing_period_close(month=chosen)
        except (ValueError, ValidationError) as error:
            message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            raise CommandError(message) from None
        if result.closed_now:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Closed {result.period}: {result.entries} ledger entries, {result.payouts} payouts, "
                    f"{result.statements} statements."
                )
            )
        else:
            self.stdout.write(f"{result.period} was already closed; nothing changed.")
