"""A group's rules: create, list, edit and delete (evaluating them is `rules.py`'s)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.alerts.groups import get_group, get_in_group
from service.alerts.levels import TriggerError, parse_threshold
from service.alerts.models import AlertRule
from service.alerts.schemas import RuleCreate, RuleUpdate
from service.errors import InvalidInput


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
    return get_in_group(session, AlertRule, rule_id, group_id, "rule")


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
