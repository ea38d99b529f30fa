"""django-filter filter sets for the sandbox lists (the `?field=value` part of DESIGN.md's envelope)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from payments_mock.models import Transaction
from portal.lib.money import MAX_AMOUNT


def _start_of_day(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone (an aware datetime)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class IntegerFilter(django_filters.NumberFilter):
    """Amounts are integers in minor units; 10.5 is refused, not rounded."""

    field_class = forms.IntegerField


class TransactionFilter(django_filters.FilterSet):
    created_gte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_lte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # Ranges on `created_at` itself, not `created_at::date`, so the (organization, livemode,
    # created_at) index serves them; the days are those of the current time zone, as `__date`'s.
    date_from = django_filters.DateFilter(method="filter_date_from", label="YYYY-MM-DD")
    date_to = django_filters.DateFilter(method="filter_date_to", label="YYYY-MM-DD")
    amount_gte = IntegerFilter(field_name="amount", lookup_expr="gte", min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)
    amount_lte = IntegerFilter(field_name="amount", lookup_expr="lte", min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)
    status = django_filters.ChoiceFilter(choices=Transaction.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Transaction.Kind.choices)
    currency = django_filters.CharFilter(method="filter_currency", max_length=3)
    customer = django_filters.CharFilter(field_name="customer__public_id", max_length=32)
    q = django_filters.CharFilter(method="filter_text", max_length=100, label="Free text")

    class Meta:
        model = Transaction
        fields: list[str] = []

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=_start_of_day(value))

    def filter_date_to(self, queryset, name, value):
        if value == date.max:
            return queryset  # no later day: every row is on or before it
        return queryset.filter(created_at__lt=_start_of_day(value + timedelta(days=1)))

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.upper())

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(description__icontains=value) | Q(source_id=value) | Q(public_id=value) | Q(customer__email__iexact=value)
        )
