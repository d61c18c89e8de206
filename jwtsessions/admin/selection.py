"""The rows of an explicit admin selection, read from the primary-key index in bounded chunks.

Django narrows an action's queryset to the ticked rows with one ``pk IN (<every key>)``. At
10,000 keys PostgreSQL plans that as a scan of the whole table (10,000 index probes look dearer
to it than reading a million rows), planning it weighs every key, and the client quotes 10,000
parameters one by one. :func:`selected_rows` takes that one condition back out of the queryset,
keeps every other (the changelist's filters and search, the action's own), and reads the rows a
chunk of keys at a time: one ``= ANY(<array>)`` parameter per chunk on PostgreSQL, which the
planner serves from the primary-key index; a plain ``IN`` of the chunk elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Field, QuerySet
from django.db.models.expressions import Col
from django.db.models.lookups import In
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.where import AND
from django.http import HttpRequest

# Keys per query: small enough that PostgreSQL reads a million-row table by its primary key
# (at 10,000 keys it scans the whole table, at 5,000 not yet; on a smaller table it switches
# sooner, where a scan is cheap anyway), large enough that 10,000 keys are 5 queries (at 1,000
# keys a query, 10 queries took a fifth longer).
SELECTION_CHUNK = 2000
# Primary-key fields whose ``to_python`` gives the value ``get_prep_value`` would: for them the
# keys the object-id guard already converted are exactly what Django's ``IN`` would bind.
_PREPARED_BY_TO_PYTHON = ("AutoField", "IntegerField", "CharField", "TextField")
# What a 64-bit integer column holds: a larger key is no id (and no array element).
INT64 = range(-(2**63), 2**63)

if TYPE_CHECKING:
    _InBase = In[Any]
else:
    _InBase = In  # generic for type checkers only


def _as_array(field: Field[Any, Any], keys: Sequence[Any]) -> tuple[str, str] | None:
    """``keys`` as one PostgreSQL array literal and its element type; ``None`` when a plain
    ``IN`` is the safer shape (another kind of key, or an integer no column can hold).

    Built here it costs one string join, where psycopg adapts a list element by element.
    """
    kind = field.get_internal_type()
    if kind.endswith(("AutoField", "IntegerField")):
        if all(type(key) is int and key in INT64 for key in keys):
            return "{" + ",".join(map(str, keys)) + "}", "bigint"
        return None
    if kind in ("CharField", "TextField") and all(isinstance(key, str) for key in keys):
        # Each key double-quoted with \\ and " escaped: exactly one element, whatever it holds
        # (NULL, commas, braces). As text, not the column's varchar(n): a cast to varchar(n)
        # truncates, and a longer key would then match the id it starts with.
        quoted = (key.replace("\\", "\\\\").replace('"', '\\"') for key in keys)
        return "{" + ",".join(f'"{key}"' for key in quoted) + "}", "text"
    return None


class KeysIn(_InBase):
    """``IN`` for one chunk of keys; on PostgreSQL ``= ANY(%s::<type>[])``, one parameter.

    The keys come converted by the field (from Django's own ``IN``, or from the object-id
    guard): not again, and never an expression, so no key is looked at one by one.
    """

    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, Sequence[Any]]:
        array = _as_array(self.lhs.output_field, list(self.rhs))
        if array is None:
            return self.as_sql(compiler, connection)
        literal, element_type = array
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::{element_type}[])", (*lhs_params, literal)


def split_selection(queryset: QuerySet[Any]) -> tuple[QuerySet[Any], Col, list[Any]] | None:
    """``queryset`` without its top-level ``pk IN (<keys>)``, that column and those keys.

    ``None`` when there is no such condition: a "select all" across pages, a single object, a
    queryset built otherwise. Taking the condition out of a clone and applying it again in
    chunks (ANDed with everything else) selects exactly the same rows.
    """
    query = queryset.query
    where = query.where
    if query.is_sliced or query.combinator or where.connector != AND or where.negated:
        return None
    pk = queryset.model._meta.pk
    for position, node in enumerate(where.children):
        if (
            isinstance(node, In)
            and isinstance(node.lhs, Col)
            and node.lhs.alias == query.base_table
            and node.lhs.target == pk
            and isinstance(node.rhs, (list, tuple))
        ):
            rest = queryset.all()  # a clone: its where clause is a copy
            del rest.query.where.children[position]
            # As Django's IN: each key once, and NULL never equal to anything.
            keys = [key for key in dict.fromkeys(node.rhs) if key is not None]
            return rest, node.lhs, keys
    return None


def selected_rows(queryset: QuerySet[Any], *fields: str) -> list[tuple[Any, ...]] | None:
    """``queryset.values_list(*fields)`` when it is narrowed to explicitly selected keys, read a
    chunk of :data:`SELECTION_CHUNK` keys per query; ``None`` otherwise (see
    :func:`split_selection`)."""
    split = split_selection(queryset)
    if split is None:
        return None
    rest, column, keys = split
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), SELECTION_CHUNK):
        chunk = rest.filter(KeysIn(column, keys[start : start + SELECTION_CHUNK]))
        rows.extend(chunk.order_by().values_list(*fields))
    return rows


def narrowed_by_checked_keys(
    queryset: QuerySet[Any], checked: Sequence[tuple[str, Any]]
) -> QuerySet[Any]:
    """``queryset``, whose next ``filter(pk__in=<the checked ids>)`` binds the keys as given.

    That call is Django's: ``response_action`` narrows an action's queryset to the ticked ids,
    and its ``IN`` prepares each of them again, a few Python calls per key (17 ms for 10,000).
    ``checked`` pairs each id with its key as the primary-key field converted it. The call is
    recognised by its exact argument (the checked ids, in order); any other call, and any call
    on a clone, is Django's own. Other kinds of primary key are left to Django.
    """
    kind = queryset.model._meta.pk.get_internal_type()
    if not kind.endswith(_PREPARED_BY_TO_PYTHON):
        return queryset
    ids = [pk for pk, _ in checked]
    keys = [key for _, key in checked]
    narrowed = queryset.all()
    filter_ = narrowed.filter

    def filter_by_checked_keys(*args: Any, **kwargs: Any) -> QuerySet[Any]:
        if not args and len(kwargs) == 1 and kwargs.get("pk__in") == ids:
            return filter_(KeysIn(F("pk"), keys))
        return filter_(*args, **kwargs)

    narrowed.filter = filter_by_checked_keys  # type: ignore[method-assign]
    return narrowed


def selects_across(request: HttpRequest) -> bool:
    """Whether the action form chose "select all N" across pages, read as Django's action form
    reads its ``select_across`` field (a boolean: "1", "true", "on" ...), so the confirmation
    page shows and posts back the selection Django acted on."""
    value = request.POST.get("select_across")
    return bool(forms.BooleanField(required=False).to_python(value))
