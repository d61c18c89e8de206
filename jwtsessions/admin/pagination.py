"""A changelist paginator that never counts a million rows.

Django's paginator runs ``SELECT COUNT(*)`` over the whole filtered queryset on every page,
and ``OFFSET 199900`` makes PostgreSQL build (and join) every skipped row. This one:

* counts exactly up to :attr:`EstimatedCountPaginator.exact_up_to` rows (``COUNT`` over a
  ``LIMIT``, cheap whatever the table size) and estimates beyond that, from the planner's
  statistics on PostgreSQL (``pg_class.reltuples`` for a whole table, ``EXPLAIN`` for a
  filtered one); other databases count exactly;
* fetches a deep page in two steps: the primary keys of the page from the ordering index
  (an index-only scan), then those rows with their users.

An estimate is shown as "about N" (``admin/jwtsessions/pagination.html``); near the end of an
estimated list, a page may come out short or empty.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet

if TYPE_CHECKING:
    _PaginatorBase = Paginator[Any]
else:
    _PaginatorBase = Paginator  # generic for type checkers only


def _planner_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's own row estimate for ``queryset``; ``None`` elsewhere or when unknown."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        if not queryset.query.where:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
            # -1 (PostgreSQL 14+) or 0: never analysed, so no estimate to trust.
            return int(row[0]) if row and row[0] > 0 else None
        sql, params = queryset.order_by().query.sql_with_params()
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(_PaginatorBase):
    """Exact counts for small results, planner estimates for big ones, cheap deep pages."""

    #: Up to this many rows the count is exact (and cheap: it stops at the limit).
    exact_up_to = 1000
    #: From this offset on, a page is fetched primary keys first.
    deferred_from = 1000

    @cached_property
    def estimated(self) -> bool:
        """Whether :attr:`count` is an estimate (shown as "about N")."""
        return self._count_and_estimated[1]

    @cached_property
    def count(self) -> int:
        return self._count_and_estimated[0]

    @cached_property
    def _count_and_estimated(self) -> tuple[int, bool]:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset), False
        capped = queryset.order_by()[: self.exact_up_to + 1].count()
        if capped <= self.exact_up_to:
            return capped, False
        estimate = _planner_estimate(queryset)
        if estimate is None:
            return queryset.count(), False
        return max(estimate, capped), True

    def page(self, number: Any) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom < self.deferred_from or not isinstance(queryset, QuerySet):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        pks = list(queryset.values_list("pk", flat=True)[bottom:top])
        rows = {obj.pk: obj for obj in queryset.order_by().filter(pk__in=pks)}
        return Page([rows[pk] for pk in pks if pk in rows], number, self)
