"""A group's members (its contact tree): add, list, edit, delete, and import from CSV.

A CSV row is validated by the same model as the JSON API (`MemberCreate`); only what CSV
writes differently (`wa`, `ya`/`tidak`, parents and backups named by phone) is translated
first. A CSV is imported whole or not at all, its errors listed per row and column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.alerts.groups import get_group, get_in_group
from service.alerts.models import Member
from service.alerts.phones import PhoneError, normalize_phone
from service.alerts.schemas import MemberCreate, MemberUpdate
from service.communities.models import Community
from service.db import utcnow
from service.errors import Conflict, InvalidFile, InvalidInput


def get_member(*, session: Session, group_id: int, member_id: int) -> Member:
    return get_in_group(session, Member, member_id, group_id, "member")


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
_REFERENCES = ("parent_phone", "backup_phone")  # CSV names parents and backups by phone


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, line: int, column: str, message: str) -> None:
        self.errors.append({"row": line, "column": column, "message": message})


@dataclass
class _Row:
    line: int  # in the file: the header is line 1
    member: MemberCreate | None  # None: the row has errors
    phone: str | None  # normalized, when it is a number (even if other fields are wrong)
    references: dict[str, str | None]  # parent_phone / backup_phone, normalized


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


def _as_member_fields(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row in the JSON API's words (the CSV's aliases and yes/no words translated);
    anything not translatable is passed on for `MemberCreate` to refuse."""
    channel = row.get("channel", "").lower()
    consent = row.get("consent", "").lower()
    return {
        "name": row.get("name", ""),
        "phone": row.get("phone", ""),
        "channel": CHANNEL_ALIASES.get(channel, channel),
        "language": (row.get("language", "") or "id").lower(),
        "role": row.get("role") or None,
        "community_code": row.get("community_code") or None,
        "consent": consent not in _FALSE,  # unknown words are refused by `_parse_row`
    }


def _parse_row(line: int, row: dict[str, str], result: ImportResult) -> _Row:
    member = None
    consent = row.get("consent", "").lower()
    if consent not in _TRUE | _FALSE:
        result.error(line, "consent", f"consent {consent!r} is not yes/no (ya/tidak)")
    try:
        member = MemberCreate.model_validate(_as_member_fields(row))
    except ValidationError as exc:
        for problem in exc.errors():
            column = str(problem["loc"][0]) if problem["loc"] else "row"
            result.error(line, column, problem["msg"].removeprefix("Value error, "))
    references: dict[str, str | None] = {}
    for ref in _REFERENCES:
        references[ref] = None
        if row.get(ref):
            try:
                references[ref] = normalize_phone(row[ref])
            except PhoneError as exc:
                result.error(line, ref, str(exc))
    try:
        phone = member.phone if member else normalize_phone(row.get("phone", ""))
    except PhoneError:
        phone = None
    return _Row(line=line, member=member, phone=phone, references=references)


def _check_rows(
    session: Session, rows: list[_Row], existing: dict[str, Member], result: ImportResult
) -> None:
    """What no single row shows: phones twice in the file, references to nobody, unknown
    communities."""
    first_line: dict[str, int] = {}
    for row in rows:
        if row.phone is None:
            continue
        if row.phone in first_line:
            result.error(
                row.line, "phone", f"{row.phone} appears already on row {first_line[row.phone]}"
            )
        first_line.setdefault(row.phone, row.line)
    known_phones = set(existing) | set(first_line)
    for row in rows:
        for ref, target in row.references.items():
            if target is None:
                continue
            if target not in known_phones:
                result.error(row.line, ref, f"{target} is neither in this file nor in the group")
            elif target == row.phone:
                result.error(row.line, ref, "a member cannot refer to themselves")
    codes = {r.member.community_code for r in rows if r.member and r.member.community_code}
    known = set(session.scalars(select(Community.code).where(Community.code.in_(codes))))
    for row in rows:
        code = row.member.community_code if row.member else None
        if code and code not in known:
            result.error(row.line, "community_code", f"unknown community {code}")


def import_members_csv(*, session: Session, group_id: int, content: bytes) -> ImportResult:
    """Create or update members from CSV (matched by phone). All rows or none.

    parent_phone / backup_phone name another member by phone, in this file or already in the
    group. Any row error raises InvalidFile listing every error; nothing is written then.
    """
    get_group(session=session, group_id=group_id)
    result = ImportResult()
    rows = [_parse_row(i + 2, raw, result) for i, raw in enumerate(_read_csv(content))]
    existing = {m.phone: m for m in list_members(session=session, group_id=group_id)}
    _check_rows(session, rows, existing, result)
    if result.errors:
        result.errors.sort(key=lambda e: (e["row"], e["column"]))
        raise InvalidFile(
            f"{len(result.errors)} problem(s) in the CSV; nothing was imported. "
            "Fix the rows listed in 'errors' and upload again",
            errors=result.errors,
        )
    with session.begin_nested():
        _write_rows(session, group_id, rows, existing, result)
        if result.errors:
            raise InvalidFile(
                f"{len(result.errors)} problem(s) in the CSV; nothing was imported",
                errors=result.errors,
            )
    return result


def _write_rows(
    session: Session,
    group_id: int,
    rows: list[_Row],
    existing: dict[str, Member],
    result: ImportResult,
) -> None:
    """Create or update every row's member, then link parents and backups by phone and check
    the tree (a loop is reported against the row that closes it)."""
    by_phone = dict(existing)
    fields = ("name", "channel", "language", "role", "community_code", "consent")
    for row in rows:
        assert row.member is not None  # rows with errors were refused before
        values = {k: getattr(row.member, k) for k in fields}
        member = by_phone.get(row.member.phone)
        if member is None:
            member = Member(group_id=group_id, phone=row.member.phone, **values)
            member.consent_at = utcnow() if row.member.consent else None
            session.add(member)
            by_phone[row.member.phone] = member
            result.created += 1
        else:
            if member.consent != row.member.consent:
                member.consent_at = utcnow() if row.member.consent else None
            for key, value in values.items():
                setattr(member, key, value)
            result.updated += 1
    session.flush()
    for row in rows:
        assert row.member is not None
        member = by_phone[row.member.phone]
        parent, backup = row.references["parent_phone"], row.references["backup_phone"]
        member.parent_id = by_phone[parent].id if parent else None
        member.backup_id = by_phone[backup].id if backup else None
    session.flush()
    for row in rows:
        assert row.member is not None
        try:
            _check_tree(session, group_id, by_phone[row.member.phone])
        except InvalidInput as exc:
            result.error(row.line, "parent_phone", exc.detail)
