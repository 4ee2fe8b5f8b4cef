"""OGC API collections of the alerts domain: `alerts` (public, CAP-like, no people) and
`reports` (ground reports; key holders only, since free text may name people, and phone
numbers inside the text are masked)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, case, func, select

from service.alerts.models import ALERT_KINDS, Alert, AlertGroup, GroundReport
from service.alerts.redact import PHONE, PHONE_MASK
from service.communities.models import Community
from service.ogc_collections import Collection, Filter

PHONE_PATTERN = PHONE.pattern


def _label() -> ColumnElement[str]:
    """What the map shows first: DIBATALKAN on a cancelled thread, LATIHAN on a drill."""
    words = func.concat_ws(
        " ",
        case((Alert.cancelled_at.is_not(None), "DIBATALKAN"), else_=None),
        case((Alert.status == "Exercise", "LATIHAN"), else_=None),
        func.upper(case({1: "waspada", 2: "siaga", 3: "awas"}, value=Alert.level, else_="")),
        case(
            (Alert.kind == "all_clear", "AMAN"),
            (Alert.kind == "cancel", "pembatalan"),
            else_=None,
        ),
        Alert.hazard,
    )
    return func.concat(words, ": ", Community.name)


def _alerts_source() -> FromClause:
    return (
        select(
            Alert.id.label("id"),
            Alert.identifier.label("identifier"),
            Alert.hazard.label("hazard"),
            Alert.level.label("level"),
            case({1: "waspada", 2: "siaga", 3: "awas"}, value=Alert.level, else_=None).label(
                "level_name"
            ),
            Alert.kind.label("kind"),
            Alert.msg_type.label("msg_type"),
            Alert.status.label("cap_status"),
            Alert.thread_id.label("thread_id"),
            Alert.community_code.label("community_code"),
            Community.name.label("community_name"),
            Alert.group_id.label("group_id"),
            AlertGroup.name.label("group_name"),
            Alert.headline.label("headline"),
            _label().label("label"),
            Alert.cancelled_at.is_not(None).label("cancelled"),
            Alert.cancelled_at.label("cancelled_at"),
            Alert.sent_at.label("sent_at"),
            Alert.expires_at.label("expires_at"),
            Alert.closed_at.label("closed_at"),
            func.concat("/cap/alerts/", Alert.id, ".xml").label("cap_url"),
            Community.geom.label("geom"),
        )
        .join(Community, Community.code == Alert.community_code)
        .join(AlertGroup, AlertGroup.id == Alert.group_id)
        # Preparedness notices are CAP scope Restricted: for the group, not this public list.
        .where(Alert.kind != "preparedness")
        .subquery("ogc_alerts")
    )


def _reports_source() -> FromClause:
    return (
        select(
            GroundReport.id.label("id"),
            # Masked when stored; masked again for phone numbers in case of older rows.
            func.regexp_replace(GroundReport.public_text, PHONE_PATTERN, PHONE_MASK, "g").label(
                "text"
            ),
            GroundReport.channel.label("channel"),
            GroundReport.received_at.label("received_at"),
            GroundReport.community_code.label("community_code"),
            Community.name.label("community_name"),
            GroundReport.group_id.label("group_id"),
            GroundReport.alert_id.label("alert_id"),
            GroundReport.geom.label("geom"),
        )
        .outerjoin(Community, Community.code == GroundReport.community_code)
        .subquery("ogc_reports")
    )


ALERTS = Collection(
    id="alerts",
    title="Peringatan dini (alerts)",
    description=(
        "Peringatan yang dikirim ke kelompok masyarakat: bahaya, tingkat (waspada/siaga/"
        "awas), jenis pesan CAP dan wilayah desa. Alerts sent to community groups: hazard, "
        "level, CAP message type and status, the community's area; no names or numbers."
    ),
    source=_alerts_source,
    id_column="id",
    properties=(
        "identifier",
        "hazard",
        "level",
        "level_name",
        "kind",
        "msg_type",
        "cap_status",
        "thread_id",
        "community_code",
        "community_name",
        "group_id",
        "group_name",
        "headline",
        "label",
        "cancelled",
        "cancelled_at",
        "sent_at",
        "expires_at",
        "closed_at",
        "cap_url",
    ),
    time_column="sent_at",
    time_end_column="expires_at",
    filters=(
        Filter(name="hazard", column="hazard", description="hazard type"),
        Filter(
            name="level",
            column="level",
            type="integer",
            description="1 waspada, 2 siaga, 3 awas",
        ),
        Filter(
            name="kind",
            column="kind",
            enum=tuple(k for k in ALERT_KINDS if k != "preparedness"),
            description="alert, update, all_clear, cancel",
        ),
        Filter(name="cap_status", column="cap_status", enum=("Actual", "Exercise")),
        Filter(name="community_code", column="community_code", description="Kemendagri code"),
        Filter(name="group_id", column="group_id", type="integer"),
    ),
    keywords=("alerts", "peringatan", "CAP"),
)

REPORTS = Collection(
    id="reports",
    title="Laporan lapangan (ground reports)",
    description=(
        "Balasan anggota yang bukan kode konfirmasi: laporan dari lapangan, di titik desa "
        "pelapor. Replies from members that are not acknowledgement codes, placed on the "
        "reporter's community; phone numbers in the text are masked. Needs an API key."
    ),
    source=_reports_source,
    id_column="id",
    properties=(
        "text",
        "channel",
        "received_at",
        "community_code",
        "community_name",
        "group_id",
        "alert_id",
    ),
    time_column="received_at",
    filters=(
        Filter(name="community_code", column="community_code"),
        Filter(name="group_id", column="group_id", type="integer"),
        Filter(name="alert_id", column="alert_id", type="integer"),
    ),
    public=False,
    keywords=("reports", "laporan"),
)

COLLECTIONS = (ALERTS, REPORTS)
