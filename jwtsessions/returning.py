"""A conditional ``UPDATE`` of one row that also hands back the updated row.

Refreshing a session is a compare-and-swap: one ``UPDATE`` whose ``WHERE`` holds only for the
current refresh token. The token pair it issues then needs the row (the user, the expiry).
Where the database can say ``UPDATE ... RETURNING`` (PostgreSQL, SQLite 3.35+) both come from
one statement, one round trip, and the row is exactly the one the update wrote; elsewhere
(MySQL, MariaDB, Oracle) it is ``update()`` followed by a read of the row, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery

M = TypeVar("M", bound=Model)


def can_return_from_update(alias: str) -> bool:
    """Whether the database behind ``alias`` supports ``UPDATE ... RETURNING``."""
    connection = connections[alias]
    # Django's flag for INSERT ... RETURNING; for these two vendors it also holds for UPDATE
    # (SQLite added both in 3.35). MariaDB has it for INSERT only, Oracle in another syntax.
    return connection.vendor in ("postgresql", "sqlite") and bool(
        connection.features.can_return_columns_from_insert
    )


def update_one(
    queryset: QuerySet[M],
    pk: Any,
    values: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
    returning: bool = True,
) -> M | None:
    """Apply ``values`` to the row with primary key ``pk`` if ``queryset`` matches it; return
    the row as updated, or ``None`` if nothing matched.

    ``extra`` names expressions (e.g. a ``Subquery`` on the user with ``OuterRef``) computed on
    the updated row and set as attributes of the result, like ``annotate()``: what the caller
    needs besides the row, in the same statement. ``returning=False`` forces the
    two-statement path (tests cover both).
    """
    alias = queryset.db
    queryset = queryset.filter(pk=pk)
    extra = extra or {}
    if not (returning and can_return_from_update(alias)):
        if not queryset.update(**values):
            return None
        found: M | None = (
            queryset.model._base_manager.using(alias).filter(pk=pk).annotate(**extra).first()
        )
        return found
    statement = compile_update(queryset, values, extra)
    if statement is None:
        return None
    return cast("M | None", run(statement, statement.params))


@dataclass(frozen=True)
class Statement:
    """A compiled ``UPDATE ... RETURNING``: its SQL, its parameters, and how to read its row."""

    alias: str
    sql: str
    params: tuple[Any, ...]
    model: type[Model]
    compiler: Any
    converters: Any
    attnames: tuple[str, ...]
    extra: tuple[str, ...]


def compile_update(
    queryset: QuerySet[M], values: dict[str, Any], extra: dict[str, Any]
) -> Statement | None:
    """``queryset`` (already narrowed to one row) as ``UPDATE ... SET values RETURNING`` every
    column and ``extra``; ``None`` when there is nothing to update."""
    alias = queryset.db
    model = queryset.model
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    query.clear_select_clause()
    for name, expression in extra.items():
        query.add_annotation(expression, name, select=False)
    compiler = query.get_compiler(alias)
    sql, params = compiler.as_sql()
    if not sql:
        return None
    connection = connections[alias]
    fields = model._meta.concrete_fields
    expressions: list[Any] = [field.get_col(model._meta.db_table) for field in fields]
    returned = [connection.ops.quote_name(str(field.column)) for field in fields]
    returned_params: list[Any] = []
    for name in extra:
        expression = query.annotations[name]
        expression_sql, expression_params = compiler.compile(expression)
        expressions.append(expression)
        returned.append(expression_sql)
        returned_params.extend(expression_params)
    return Statement(
        alias,
        f"{sql} RETURNING {', '.join(returned)}",
        (*params, *returned_params),
        model,
        compiler,
        compiler.get_converters(expressions),
        tuple(field.attname for field in fields),
        tuple(extra),
    )


def run(statement: Statement, params: Sequence[Any]) -> Any:
    """Execute ``statement`` with ``params``; the updated row as a model instance (``extra`` set
    as attributes), or ``None`` if no row matched."""
    alias = statement.alias
    with transaction.mark_for_rollback_on_error(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    converters = statement.converters
    compiler = statement.compiler
    row = list(next(iter(compiler.apply_converters(rows, converters))) if converters else rows[0])
    width = len(statement.attnames)
    instance = statement.model.from_db(alias, list(statement.attnames), row[:width])
    for name, value in zip(statement.extra, row[width:], strict=True):
        setattr(instance, name, value)
    return instance
