"""Rule evaluation (pure): signals + the last known state per hazard and community -> decisions.

Nothing here reads a clock or a database: `now` is passed in, so cooldown, quiet hours and
all-clear are tested by moving a number. The caller (service.evaluate_signals) persists the
states and turns decisions into alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.alerts.levels import AWAS, level_for, measure, parse_threshold


@dataclass(frozen=True)
class Signal:
    """One observation about one hazard in one community, from a risk score or a feed event."""

    community_code: str
    hazard: str
    source_ref: str  # the event id or the layer version: what an alert is idempotent on
    observed_at: datetime
    risk_level: str | None = None
    score: float | None = None
    mmi: float | None = None
    cap_severity: str | None = None
    alert_level: str | None = None
    headline: str | None = None  # e.g. "Gempa M5.6, 84 km BD Kab. Garut"
    # "feed": an event, observation or forecast (earthquakes, CAP, GDACS, raster feeds);
    # "map": a score from a hazard map, which describes where danger can be, not that it is.
    basis: str = "feed"

    def value_for(self, trigger: str) -> object:
        return getattr(self, trigger)


@dataclass(frozen=True)
class RuleConfig:
    hazards: tuple[str, ...]
    trigger: str  # risk_level | mmi | cap_severity | alert_level
    threshold: str
    cooldown: timedelta = timedelta(hours=6)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "Asia/Jakarta"
    quiet_bypass_level: int = AWAS
    all_clear_after: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class WatchState:
    """What was last said about one hazard in one community under one rule."""

    open_level: int = 0  # 0: nothing open; else the level of the open alert thread
    thread_alert_id: int | None = None  # the first alert of the open thread
    last_alert_at: datetime | None = None
    last_alert_level: int = 0
    last_source_ref: str | None = None
    below_since: datetime | None = None


@dataclass(frozen=True)
class Decision:
    kind: str  # "alert" | "update" | "all_clear" | "held" | "cooldown"
    hazard: str
    community_code: str
    level: int
    signal: Signal | None
    thread_alert_id: int | None = None
    reason: str = ""


@dataclass
class Evaluation:
    decisions: list[Decision] = field(default_factory=list)
    states: dict[tuple[str, str], WatchState] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> list[Decision]:
        return [d for d in self.decisions if d.kind in kinds]


def in_quiet_hours(rule: RuleConfig, now: datetime) -> bool:
    if rule.quiet_start is None or rule.quiet_end is None or rule.quiet_start == rule.quiet_end:
        return False
    local = now.astimezone(ZoneInfo(rule.timezone)).time()
    if rule.quiet_start < rule.quiet_end:
        return rule.quiet_start <= local < rule.quiet_end
    return local >= rule.quiet_start or local < rule.quiet_end  # spans midnight


def firing(rule: RuleConfig, signals: list[Signal]) -> dict[tuple[str, str], tuple[Signal, int]]:
    """Per (hazard, community): the strongest signal at or above the rule's threshold."""
    return _strongest(rule, signals)


def _strongest(
    rule: RuleConfig, signals: list[Signal]
) -> dict[tuple[str, str], tuple[Signal, int]]:
    """Per (hazard, community): the firing signal with the highest level (latest on ties)."""
    threshold = parse_threshold(rule.trigger, rule.threshold)
    best: dict[tuple[str, str], tuple[Signal, int, float]] = {}
    for sig in signals:
        if sig.hazard not in rule.hazards:
            continue
        measured = measure(rule.trigger, sig.value_for(rule.trigger))
        if measured is None or measured < threshold:
            continue
        level = level_for(rule.trigger, measured)
        key = (sig.hazard, sig.community_code)
        current = best.get(key)
        rank = (level, measured, sig.observed_at.timestamp())
        if current is None or rank > (current[1], current[2], current[0].observed_at.timestamp()):
            best[key] = (sig, level, measured)
    return {k: (s, lvl) for k, (s, lvl, _) in best.items()}


def evaluate(
    *,
    rule: RuleConfig,
    signals: list[Signal],
    states: dict[tuple[str, str], WatchState],
    now: datetime,
) -> Evaluation:
    """Decide, per hazard and community, whether to alert, update, hold, stay quiet or all-clear.

    The returned states are what to store if the decisions are carried out; `held` and
    `cooldown` leave the state as it was (apart from clearing a pending all-clear timer).
    """
    quiet = in_quiet_hours(rule, now)
    firing = _strongest(rule, signals)
    out = Evaluation(states=dict(states))

    for key, (sig, level) in sorted(firing.items()):
        hazard, code = key
        state = states.get(key, WatchState())
        state = replace(state, below_since=None)  # firing again cancels a pending all-clear
        out.states[key] = state
        recently = state.last_alert_at is not None and now - state.last_alert_at < rule.cooldown
        rising = level > state.last_alert_level
        if state.open_level:
            if not rising and (recently or sig.source_ref == state.last_source_ref):
                out.decisions.append(
                    Decision(
                        "cooldown",
                        hazard,
                        code,
                        level,
                        sig,
                        state.thread_alert_id,
                        "already alerted at this level" if not recently else "within cooldown",
                    )
                )
                continue
            kind = "update"
        else:
            if recently and not rising:
                out.decisions.append(
                    Decision("cooldown", hazard, code, level, sig, None, "within cooldown")
                )
                continue
            kind = "alert"
        if quiet and level < rule.quiet_bypass_level:
            out.decisions.append(
                Decision("held", hazard, code, level, sig, state.thread_alert_id, "quiet hours")
            )
            continue
        out.decisions.append(Decision(kind, hazard, code, level, sig, state.thread_alert_id))
        out.states[key] = WatchState(
            open_level=level,
            thread_alert_id=state.thread_alert_id if kind == "update" else None,
            last_alert_at=now,
            last_alert_level=level,
            last_source_ref=sig.source_ref,
        )

    _calm(rule, states, set(firing), quiet, now, out)
    return out


def _calm(
    rule: RuleConfig,
    states: dict[tuple[str, str], WatchState],
    firing_keys: set[tuple[str, str]],
    quiet: bool,
    now: datetime,
    out: Evaluation,
) -> None:
    """Open watches that nothing fires for: start the all-clear timer, or all-clear once it
    has run `all_clear_after` (held in quiet hours)."""
    for key, state in sorted(states.items()):
        if key in firing_keys or not state.open_level:
            continue
        hazard, code = key
        if state.below_since is None:
            out.states[key] = replace(state, below_since=now)
            continue
        if now - state.below_since < rule.all_clear_after:
            continue
        if quiet:  # good news can wait for the morning
            out.decisions.append(
                Decision("held", hazard, code, 0, None, state.thread_alert_id, "quiet hours")
            )
            continue
        out.decisions.append(Decision("all_clear", hazard, code, 0, None, state.thread_alert_id))
        out.states[key] = WatchState(
            open_level=0,
            thread_alert_id=None,
            last_alert_at=state.last_alert_at,
            last_alert_level=state.last_alert_level,
            last_source_ref=state.last_source_ref,
        )
