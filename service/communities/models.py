"""A community is an admin unit (desa/kelurahan, kecamatan, ...) keyed by its Kemendagri code."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Index,
    Integer,
    String,
    Text,
    any_,
    cast,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, TimestampMixin


class Community(TimestampMixin, Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str | None] = mapped_column(String(32))
    province_code: Mapped[str | None] = mapped_column(String(32))
    province_name: Mapped[str | None] = mapped_column(Text)
    regency_code: Mapped[str | None] = mapped_column(String(32))
    regency_name: Mapped[str | None] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(String(32))
    district_name: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(BigInteger)
    area_km2: Mapped[float | None] = mapped_column(Float)
    # Vulnerability indicators: shares of the population, 0..1; null = unknown.
    share_elderly: Mapped[float | None] = mapped_column(Float)
    share_children: Mapped[float | None] = mapped_column(Float)
    share_disabled: Mapped[float | None] = mapped_column(Float)
    share_poor: Mapped[float | None] = mapped_column(Float)
    # Capacity indicators; null = unknown.
    has_early_warning: Mapped[bool | None] = mapped_column(Boolean)
    has_task_force: Mapped[bool | None] = mapped_column(Boolean)
    has_evacuation_site: Mapped[bool | None] = mapped_column(Boolean)
    drills_per_year: Mapped[int | None] = mapped_column(Integer)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )

    __table_args__ = (Index("ix_communities_geom", "geom", postgresql_using="gist"),)


def code_in(codes: Iterable[str]) -> ColumnElement[bool]:
    """`communities.code = ANY(:codes)`: one array parameter however many codes (an IN list
    of a thousand would be a thousand parameters)."""
    return Community.code == any_(cast(list(codes), ARRAY(String)))
