"""How a domain describes its OGC API collections, in a few lines of data.

A `Collection` says where the rows come from (a table or a select turned into a subquery),
which column is the feature id, which is the geometry, which columns become properties, which
column(s) carry time, and which extra query parameters filter it. The items endpoint builds
its SQL from that description (see `queries.py`); nothing is loaded into Python wholesale.

    COLLECTIONS = (
        Collection(
            id="hazard-events", title="Kejadian bahaya", description="...",
            source=HazardEvent.__table__, id_column="id", geometry_column="footprint",
            properties=("hazard", "magnitude", "event_time"),
            time_column="event_time",
            filters=(Filter(name="hazard", column="hazard"),),
        ),
    )

Each domain lists its collections in `<domain>/ogc.py` as such a tuple; nothing is registered
on import. The API builds a `Catalog` of them when the app starts (`service/api/ogc/catalog.py`).
This module sits below the domains and above nothing but SQLAlchemy: it knows no roles, no
HTTP and no domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, FromClause

FilterType = Literal["string", "integer", "number", "boolean"]
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Query parameters of the items endpoint itself; a filter may not take these names.
RESERVED_PARAMS = frozenset(
    {
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "datetime",
        "crs",
        "f",
        "filter",
        "filter-lang",
        "filter-crs",
        "sortby",
        "properties",
        "skipGeometry",
    }
)


@dataclass(frozen=True, kw_only=True)
class Filter:
    """An extra items query parameter: `?name=a,b` keeps rows whose column equals a or b.

    `column` names a column of the collection's source. For anything other than equality,
    give `where`: a function of the source and the parsed values returning a SQL condition.
    """

    name: str
    column: str | None = None
    type: FilterType = "string"
    description: str = ""
    enum: tuple[str, ...] | None = None
    where: Callable[[FromClause, list[Any]], ColumnElement[bool]] | None = None


@dataclass(frozen=True, kw_only=True)
class Collection:
    """One feature collection served under /ogc/collections/{id}.

    `source` is a Table, or a `select(...).subquery("name")` when the properties come from
    joins; it may also be a zero-argument callable returning one (to defer imports).
    `properties` maps the output property name to a source column name (a sequence of names
    means the same name on both sides). `time_column` is an instant; give `time_end_column`
    too when rows have a validity interval (either end may be null = open).
    Non-public collections are listed and served only to callers whose API key holds
    `min_role` or a higher role (default responder: people's names and numbers stay with
    responders and admins).
    """

    id: str
    title: str
    description: str
    source: FromClause | Callable[[], FromClause]
    id_column: str
    geometry_column: str = "geom"
    properties: Sequence[str] | Mapping[str, str] = ()
    time_column: str | None = None
    time_end_column: str | None = None
    filters: Sequence[Filter] = ()
    public: bool = True
    min_role: str = "responder"
    keywords: Sequence[str] = ()
    # Decimal digits of coordinates in responses: 7 is about 1 cm on the ground.
    precision: int = 7
    _resolved: list[FromClause] = field(default_factory=list, repr=False, compare=False)
    # Per-collection memo of SQL fragments that never change (see queries.feature_sql).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def table(self) -> FromClause:
        """The source as a FromClause (resolving a deferred source once)."""
        if not self._resolved:
            src = self.source() if callable(self.source) else self.source
            self._resolved.append(src)
        return self._resolved[0]

    def property_columns(self) -> dict[str, str]:
        if isinstance(self.properties, Mapping):
            return dict(self.properties)
        return {name: name for name in self.properties}

    def filter_by_name(self) -> dict[str, Filter]:
        return {f.name: f for f in self.filters}

    @property
    def has_time(self) -> bool:
        return self.time_column is not None

    def validate(self, roles: Sequence[str]) -> None:
        """Fail at start-up, not at the first request, when the description is inconsistent.

        `roles`: the role names `min_role` may take (the caller knows them; this module does
        not)."""
        if not _ID_PATTERN.match(self.id):
            raise ValueError(f"collection id {self.id!r}: use lower-case letters, digits, - and _")
        cols = self.table().c
        needed = [self.id_column, self.geometry_column, *self.property_columns().values()]
        needed += [c for c in (self.time_column, self.time_end_column) if c]
        needed += [f.column for f in self.filters if f.column]
        missing = [name for name in needed if name not in cols]
        if missing:
            raise ValueError(f"collection {self.id!r}: source has no column(s) {missing}")
        if self.min_role not in roles:
            raise ValueError(f"collection {self.id!r}: min_role must be one of {tuple(roles)}")
        if self.time_end_column and not self.time_column:
            raise ValueError(f"collection {self.id!r}: time_end_column needs time_column")
        for f in self.filters:
            if f.name in RESERVED_PARAMS:
                raise ValueError(f"collection {self.id!r}: filter name {f.name!r} is reserved")
            if (f.column is None) == (f.where is None):
                raise ValueError(f"collection {self.id!r}: filter {f.name!r} needs column or where")


class Catalog:
    """The collections an app serves, in the order they were added; ids are unique."""

    def __init__(self, roles: Sequence[str], collections: Iterable[Collection] = ()) -> None:
        self._roles = tuple(roles)
        self._by_id: dict[str, Collection] = {}
        for collection in collections:
            self.add(collection)

    def add(self, collection: Collection, *, replace: bool = False) -> Collection:
        """Add a collection; ids are unique unless `replace` is given (tests, reloads)."""
        collection.validate(self._roles)
        if collection.id in self._by_id and not replace:
            raise ValueError(f"collection {collection.id!r} is already registered")
        self._by_id[collection.id] = collection
        return collection

    def remove(self, collection_id: str) -> None:
        self._by_id.pop(collection_id, None)

    def get(self, collection_id: str) -> Collection | None:
        return self._by_id.get(collection_id)

    def collections(self) -> list[Collection]:
        """The collections in the order they were added."""
        return list(self._by_id.values())
