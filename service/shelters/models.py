"""shelters: points a community agreed on (titik kumpul, shelter, posko), one row each."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, TimestampMixin

SHELTER_KINDS = ("titik_kumpul", "shelter", "posko")


class Shelter(TimestampMixin, Base):
    __tablename__ = "shelters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    capacity: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )

    __table_args__ = (
        CheckConstraint("kind IN ('" + "','".join(SHELTER_KINDS) + "')", name="kind"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        Index("ix_shelters_community", "community_id"),
        Index("ix_shelters_geom", "geom", postgresql_using="gist"),
    )
