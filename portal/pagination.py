"""Pages whose total is counted only up to a cap.

Counting every match of a broad search costs as much as finding the page itself, and
nobody pages through thousands of results, so lists that may match most of a large table
count a `LIMIT cap + 1` subquery (which stops early) and show "1,000+" past the cap. The
API envelope does the same (`portal.api.paginated`, `meta.total_is_capped`).
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator


def count_capped(queryset, cap: int) -> tuple[int, bool]:
    """How many rows match, up to `cap`, and whether there are more.

    A list that can count more cheaply itself says so with its own `count_capped(cap)`
    (marketplace's ranked search counts in the query that ranks).
    """
    own = getattr(queryset, "count_capped", None)
    if own is not None:
        return own(cap)
    counted = queryset.order_by()[: cap + 1].count()
    return min(counted, cap), counted > cap


class CappedPaginator(Paginator):
    """Django's Paginator with the count capped; `count_is_capped` says the list goes on."""

    def __init__(self, object_list, per_page, *, cap: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def _capped_count(self) -> tuple[int, bool]:
        return count_capped(self.object_list, self.cap)

    @cached_property
    def count(self) -> int:
        return self._capped_count[0]

    @property
    def count_is_capped(self) -> bool:
        return self._capped_count[1]


def page_of(queryset, number, per_page: int, *, cap: int):
    return CappedPaginator(queryset, per_page, cap=cap).get_page(number)
