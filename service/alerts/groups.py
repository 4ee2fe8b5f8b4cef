"""Groups, their contact trees and rules: keyword-only service functions."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.alerts.levels import TriggerError, parse_threshold
from service.alerts.models import Alert, AlertGroup, AlertRule, Member
from service.alerts.phones import PhoneError, normalize_phone
from service.alerts.schemas import (
    GroupCreate,
    GroupUpdate,
    MemberCreate,
    MemberUpdate,
    RuleCreate,
    RuleUpdate,
)
from service.communities.models import Community
from service.db import utcnow
from service.errors import Conflict, InvalidFile, InvalidInput, NotFound

# ---------------------------------------------------------------- groups


def _check_communities(session: Session, codes: list[str]) -> list[str]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not codes:
        raise InvalidInput("community_codes is empty: list the Kemendagri codes the group covers")
    known = set(session.scalars(select(Community.code).where(Community.code.in_(codes))))
    missing = [c for c in codes if c not in known]
    if missing:
        raise InvalidInput(
            f"unknown community codes: {', '.join(missing)}; import the communities first "
            "(`siaga communities import`) or fix the codes"
        )
    return codes


def get_group(*, session: Session, group_id: int) -> AlertGroup:
    group = session.get(AlertGroup, group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    return group


def create_group(*, session: Session, data: GroupCreate) -> AlertGroup:
    if session.scalar(select(AlertGroup.id).where(AlertGroup.name == data.name)) is not None:
        raise Conflict(f"a group named {data.name!r} exists already; choose another name")
    group = AlertGroup(
        name=data.name,
        description=data.description,
        community_codes=_check_communities(session, data.community_codes),
        sender_name=data.sender_name,
        contact_phone=data.contact_phone,
    )
    session.add(group)
    session.flush()
    return group


def list_groups(*, session: Session) -> list[tuple[AlertGroup, int]]:
    counts = select(Member.group_id, func.count().label("n")).group_by(Member.group_id).subquery()
    rows = session.execute(
        select(AlertGroup, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == AlertGroup.id)
        .order_by(AlertGroup.id)
    ).all()
    return [(g, int(n)) for g, n in rows]


def member_count(*, session: Session, group_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Member.group_id == group_id)) or 0)


def update_group(*, session: Session, group_id: int, data: GroupUpdate) -> AlertGroup:
    group = get_group(session=session, group_id=group_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != group.name:
        taken = session.scalar(select(AlertGroup.id).where(AlertGroup.name == changes["name"]))
        if taken is not None:
            raise Conflict(f"a group named {changes['name']!r} exists already")
    if changes.get("community_codes") is not None:
        changes["community_codes"] = _check_communities(session, changes["community_codes"])
    for key, value in changes.items():
        if value is None and key in ("name", "community_codes"):
            continue
        setattr(group, key, value)
    session.flush()
    return group


def delete_group(*, session: Session, group_id: int) -> None:
    group = get_group(session=session, group_id=group_id)
    if session.scalar(select(Alert.id).where(Alert.group_id == group_id).limit(1)) is not None:
        raise Conflict(
            f"group {group_id} has alerts on record, which are kept for audit; "
            "remove its members or disable its rules instead"
        )
    session.delete(group)
    session.flush()


# ---------------------------------------------------------------- members


def get_member(*, session: Session, group_id: int, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.group_id != group_id:
        raise NotFound(f"no member {member_id} in group {group_id}")
    return member


def list_members(*, session: Session, group_id: int) -> list[Member]:
    get_group(session=session, group_id=group_id)
    return list(
        session.scalars(select(Member).where(Member.group_id == group_id).order_by(Member.id))
    )


def _check_tree(session: Session, group_id: int, member: Member) -> None:
    """Parent and backup are other members of the same group; parents never loop."""
    with session.no_autoflush:  # check before the change reaches the database
        _check_tree_unflushed(session, group_id, member)


def _check_tree_unflushed(session: Session, group_id: int, member: Member) -> None:
    for field_name in ("parent_id", "backup_id"):
        other_id = getattr(member, field_name)
        if other_id is None:
            continue
        if member.id is not None and other_id == member.id:
            raise InvalidInput(f"{field_name}: a member cannot be their own {field_name[:-3]}")
        other = session.get(Member, other_id)
        if other is None or other.group_id != group_id:
            raise InvalidInput(f"{field_name}: no member {other_id} in group {group_id}")
    seen = {member.id}
    parent_id = member.parent_id
    while parent_id is not None:
        if parent_id in seen:
            raise InvalidInput("parent_id: this would make the contact tree a loop")
        seen.add(parent_id)
        parent = session.get(Member, parent_id)
        parent_id = parent.parent_id if parent is not None else None


def _phone_taken(session: Session, group_id: int, phone: str, except_id: int | None) -> bool:
    q = select(Member.id).where(Member.group_id == group_id, Member.phone == phone)
    if except_id is not None:
        q = q.where(Member.id != except_id)
    return session.scalar(q) is not None


def add_member(*, session: Session, group_id: int, data: MemberCreate) -> Member:
    get_group(session=session, group_id=group_id)
    if _phone_taken(session, group_id, data.phone, None):
        raise Conflict(f"{data.phone} is already a member of group {group_id}")
    member = Member(group_id=group_id, **data.model_dump())
    member.consent_at = utcnow() if data.consent else None
    _check_tree(session, group_id, member)
    session.add(member)
    session.flush()
    return member


def update_member(*, session: Session, group_id: int, member_id: int, data: MemberUpdate) -> Member:
    member = get_member(session=session, group_id=group_id, member_id=member_id)
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "phone", "channel", "language", "consent"):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required} cannot be null")
    if "phone" in changes and _phone_taken(session, group_id, changes["phone"], member_id):
        raise Conflict(f"{changes['phone']} is already a member of group {group_id}")
    if "consent" in changes and changes["consent"] != member.consent:
        member.consent_at = utcnow() if changes["consent"] else None
    for key, value in changes.items():
        setattr(member, key, value)
    _check_tree(session, group_id, member)
    session.flush()
    return member


def delete_member(*, session: Session, group_id: int, member_id: int) -> None:
    member = get_member(session=session, group_id=group_id, member_id=member_id)
    session.delete(member)
    session.flush()


# ---------------------------------------------------------------- CSV import

CSV_COLUMNS = (
    "name",
    "phone",
    "channel",
    "language",
    "role",
    "parent_phone",
    "backup_phone",
    "community_code",
    "consent",
)
_TRUE = {"", "1", "y", "ya", "yes", "true", "t", "setuju"}
_FALSE = {"0", "n", "no", "tidak", "false", "f"}
CHANNEL_ALIASES = {"wa": "whatsapp", "whatsapp": "whatsapp", "sms": "sms", "": "whatsapp"}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def _read_csv(content: bytes) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidFile(
            "the CSV is not UTF-8 text; save it as 'CSV UTF-8' and upload again"
        ) from None
    if not text.strip():
        raise InvalidFile("the CSV is empty; it needs a header row with at least name and phone")
    first = text.splitlines()[0]
    delimiter = max(",;\t", key=first.count)  # Excel in Indonesian locales writes ';'
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("name", "phone") if c not in header]
    if missing:
        raise InvalidFile(
            f"the CSV header lacks {', '.join(missing)}; columns are {', '.join(CSV_COLUMNS)} "
            "(only name and phone are required)"
        )
    rows = []
    for raw in reader:
        rows.append({(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k})
    if not rows:
        raise InvalidFile("the CSV has a header but no members")
    return rows


def import_members_csv(*, session: Session, group_id: int, content: bytes) -> ImportResult:
    """Create or update members from CSV (matched by phone). All rows or none.

    parent_phone / backup_phone name another member by phone, in this file or already in the
    group. Any row error raises InvalidFile listing every error; nothing is written then.
    """
    get_group(session=session, group_id=group_id)
    rows = _read_csv(content)
    result = ImportResult()
    parsed: list[dict[str, Any]] = []
    seen_phones: dict[str, int] = {}

    def err(line: int, column: str, message: str) -> None:
        result.errors.append({"row": line, "column": column, "message": message})

    for index, row in enumerate(rows):
        line = index + 2  # header is line 1
        item: dict[str, Any] = {"line": line}
        name = row.get("name", "")
        if not name:
            err(line, "name", "name is empty")
        item["name"] = name
        try:
            phone = normalize_phone(row.get("phone", ""))
            if phone in seen_phones:
                err(line, "phone", f"{phone} appears already on row {seen_phones[phone]}")
            seen_phones[phone] = line
            item["phone"] = phone
        except PhoneError as exc:
            err(line, "phone", str(exc))
        channel = row.get("channel", "").lower()
        if channel not in CHANNEL_ALIASES:
            err(line, "channel", f"channel {channel!r} is not whatsapp or sms")
        item["channel"] = CHANNEL_ALIASES.get(channel, "whatsapp")
        language = (row.get("language", "") or "id").lower()
        if language not in ("id", "en"):
            err(line, "language", f"language {language!r} is not id or en")
        item["language"] = language
        consent = row.get("consent", "").lower()
        if consent not in _TRUE | _FALSE:
            err(line, "consent", f"consent {consent!r} is not yes/no (ya/tidak)")
        item["consent"] = consent in _TRUE
        item["role"] = row.get("role") or None
        item["community_code"] = row.get("community_code") or None
        for ref in ("parent_phone", "backup_phone"):
            value = row.get(ref, "")
            item[ref] = None
            if value:
                try:
                    item[ref] = normalize_phone(value)
                except PhoneError as exc:
                    err(line, ref, str(exc))
        parsed.append(item)

    existing = {m.phone: m for m in list_members(session=session, group_id=group_id)}
    known_phones = set(existing) | set(seen_phones)
    for item in parsed:
        for ref in ("parent_phone", "backup_phone"):
            target = item.get(ref)
            if target is None:
                continue
            if target not in known_phones:
                err(item["line"], ref, f"{target} is neither in this file nor in the group")
            elif target == item.get("phone"):
                err(item["line"], ref, "a member cannot refer to themselves")
    codes = {i["community_code"] for i in parsed if i["community_code"]}
    if codes:
        known = set(session.scalars(select(Community.code).where(Community.code.in_(codes))))
        for item in parsed:
            if item["community_code"] and item["community_code"] not in known:
                err(item["line"], "community_code", f"unknown community {item['community_code']}")
    if result.errors:
        result.errors.sort(key=lambda e: (e["row"], e["column"]))
        raise InvalidFile(
            f"{len(result.errors)} problem(s) in the CSV; nothing was imported. "
            "Fix the rows listed in 'errors' and upload again",
            errors=result.errors,
        )

    with session.begin_nested():
        by_phone = dict(existing)
        for item in parsed:
            member = by_phone.get(item["phone"])
            values = {
                k: item[k]
                for k in ("name", "channel", "language", "role", "community_code", "consent")
            }
            if member is None:
                member = Member(group_id=group_id, phone=item["phone"], **values)
                member.consent_at = utcnow() if item["consent"] else None
                session.add(member)
                by_phone[item["phone"]] = member
                result.created += 1
            else:
                if member.consent != item["consent"]:
                    member.consent_at = utcnow() if item["consent"] else None
                for key, value in values.items():
                    setattr(member, key, value)
                result.updated += 1
        session.flush()
        for item in parsed:
            member = by_phone[item["phone"]]
            member.parent_id = by_phone[item["parent_phone"]].id if item["parent_phone"] else None
            member.backup_id = by_phone[item["backup_phone"]].id if item["backup_phone"] else None
        session.flush()
        for item in parsed:
            try:
                _check_tree(session, group_id, by_phone[item["phone"]])
            except InvalidInput as exc:
                result.errors.append(
                    {"row": item["line"], "column": "parent_phone", "message": exc.detail}
                )
        if result.errors:
            raise InvalidFile(
                f"{len(result.errors)} problem(s) in the CSV; nothing was imported",
                errors=result.errors,
            )
    return result


# ---------------------------------------------------------------- rules


def _check_rule_values(values: dict[str, Any]) -> None:
    try:
        parse_threshold(values["trigger"], values["threshold"])
    except TriggerError as exc:
        raise InvalidInput(f"threshold: {exc}") from None
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"timezone {values['timezone']!r} is unknown; use e.g. Asia/Jakarta, Asia/Makassar, "
            "Asia/Jayapura"
        ) from None
    if (values.get("quiet_start") is None) != (values.get("quiet_end") is None):
        raise InvalidInput("quiet hours need both quiet_start and quiet_end (or neither)")


def get_rule(*, session: Session, group_id: int, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None or rule.group_id != group_id:
        raise NotFound(f"no rule {rule_id} in group {group_id}")
    return rule


def list_rules(*, session: Session, group_id: int) -> list[AlertRule]:
    get_group(session=session, group_id=group_id)
    return list(
        session.scalars(
            select(AlertRule).where(AlertRule.group_id == group_id).order_by(AlertRule.id)
        )
    )


def create_rule(*, session: Session, group_id: int, data: RuleCreate) -> AlertRule:
    get_group(session=session, group_id=group_id)
    values = data.model_dump()
    _check_rule_values(values)
    rule = AlertRule(group_id=group_id, **values)
    session.add(rule)
    session.flush()
    return rule


def update_rule(*, session: Session, group_id: int, rule_id: int, data: RuleUpdate) -> AlertRule:
    rule = get_rule(session=session, group_id=group_id, rule_id=rule_id)
    changes = data.model_dump(exclude_unset=True)
    merged = {
        c: getattr(rule, c)
        for c in ("trigger", "threshold", "timezone", "quiet_start", "quiet_end")
    }
    merged.update({k: v for k, v in changes.items() if k in merged})
    for key in ("trigger", "threshold", "timezone"):
        if merged[key] is None:
            raise InvalidInput(f"{key} cannot be null")
    _check_rule_values(merged)
    for key, value in changes.items():
        if value is None and key not in ("quiet_start", "quiet_end"):
            continue
        setattr(rule, key, value)
    session.flush()
    return rule


def delete_rule(*, session: Session, group_id: int, rule_id: int) -> None:
    rule = get_rule(session=session, group_id=group_id, rule_id=rule_id)
    session.delete(rule)
    session.flush()


def remove_all_members(*, session: Session, group_id: int) -> int:
    result = session.execute(delete(Member).where(Member.group_id == group_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = ["IntegrityError"]
