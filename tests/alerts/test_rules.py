"""Rule evaluation driven by an explicit clock: cooldown, quiet hours, all-clear, rising levels."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from service.alerts.levels import AWAS, SIAGA, WASPADA, TriggerError, level_for, parse_threshold
from service.alerts.rules import (
    Evaluation,
    RuleConfig,
    Signal,
    WatchState,
    evaluate,
    in_quiet_hours,
)

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 WIB
CODE = "32.73.01.1001"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def sig(
    level: str | None = "tinggi",
    source: str = "layer:1:v1",
    hazard: str = "flood",
    code: str = CODE,
    **kw: Any,
) -> Signal:
    return Signal(
        community_code=code,
        hazard=hazard,
        source_ref=source,
        observed_at=T0,
        risk_level=level,
        **kw,
    )


class Runner:
    """Carries states from tick to tick as the service does."""

    def __init__(self, rule: RuleConfig, clock: Clock) -> None:
        self.rule, self.clock = rule, clock
        self.states: dict[tuple[str, str], WatchState] = {}
        self.next_id = 1

    def tick(self, *signals: Signal) -> Evaluation:
        result = evaluate(
            rule=self.rule, signals=list(signals), states=self.states, now=self.clock.now
        )
        for d in result.decisions:
            if d.kind == "alert":  # the service stores the new alert id as the thread
                key = (d.hazard, d.community_code)
                s = result.states[key]
                result.states[key] = WatchState(
                    s.open_level,
                    self.next_id,
                    s.last_alert_at,
                    s.last_alert_level,
                    s.last_source_ref,
                    s.below_since,
                )
                self.next_id += 1
        self.states = result.states
        return result

    def kinds(self, result: Evaluation) -> list[str]:
        return [d.kind for d in result.decisions]


RISK_RULE = RuleConfig(
    hazards=("flood",),
    trigger="risk_level",
    threshold="sedang",
    cooldown=timedelta(hours=6),
    all_clear_after=timedelta(hours=2),
)


def test_fires_at_threshold_and_maps_level() -> None:
    r = Runner(RISK_RULE, Clock(T0))
    res = r.tick(sig("sedang"))
    assert r.kinds(res) == ["alert"] and res.decisions[0].level == WASPADA
    r2 = Runner(RISK_RULE, Clock(T0))
    assert r2.kinds(r2.tick(sig("rendah"))) == []
    assert r2.kinds(r2.tick(sig("tinggi", hazard="earthquake"))) == []  # not this rule's hazard


def test_cooldown_suppresses_repeat_until_level_rises() -> None:
    clock = Clock(T0)
    r = Runner(RISK_RULE, clock)
    assert r.kinds(r.tick(sig("sedang", "layer:1:v1"))) == ["alert"]
    clock.advance(minutes=30)
    assert r.kinds(r.tick(sig("sedang", "layer:1:v2"))) == ["cooldown"]  # new version, same level
    clock.advance(minutes=30)
    res = r.tick(sig("tinggi", "layer:1:v3"))  # level rises: no cooldown
    assert r.kinds(res) == ["update"] and res.decisions[0].level == SIAGA
    assert res.decisions[0].thread_alert_id == 1  # threads to the first alert
    clock.advance(hours=1)
    assert r.kinds(r.tick(sig("tinggi", "layer:1:v4"))) == ["cooldown"]
    clock.advance(hours=6)
    assert r.kinds(r.tick(sig("tinggi", "layer:1:v3"))) == ["cooldown"]  # same source: said it
    assert r.kinds(r.tick(sig("tinggi", "layer:1:v4"))) == ["update"]  # after cooldown, new data


def test_same_signal_never_alerts_twice() -> None:
    clock = Clock(T0)
    r = Runner(RISK_RULE, clock)
    r.tick(sig())
    for _ in range(5):
        clock.advance(hours=10)
        assert r.kinds(r.tick(sig())) == ["cooldown"]


def test_all_clear_after_staying_down() -> None:
    clock = Clock(T0)
    r = Runner(RISK_RULE, clock)
    r.tick(sig("tinggi"))
    clock.advance(minutes=10)
    assert r.kinds(r.tick(sig("rendah"))) == []  # below: the timer starts
    assert r.states[("flood", CODE)].below_since == clock.now
    clock.advance(minutes=90)
    assert r.kinds(r.tick(sig("sedang", "layer:1:v2"))) == ["cooldown"]  # back up: timer reset
    assert r.states[("flood", CODE)].below_since is None
    clock.advance(minutes=10)
    r.tick()  # gone: timer starts again
    clock.advance(minutes=119)
    assert r.kinds(r.tick()) == []
    clock.advance(minutes=1)
    res = r.tick()
    assert r.kinds(res) == ["all_clear"] and res.decisions[0].thread_alert_id == 1
    assert r.states[("flood", CODE)].open_level == 0
    clock.advance(minutes=1)
    assert r.kinds(r.tick()) == []  # said once


def test_after_all_clear_cooldown_still_applies_unless_rising() -> None:
    rule = RuleConfig(
        hazards=("flood",),
        trigger="risk_level",
        threshold="sedang",
        cooldown=timedelta(hours=6),
        all_clear_after=timedelta(minutes=30),
    )
    clock = Clock(T0)
    r = Runner(rule, clock)
    r.tick(sig("sedang"))
    clock.advance(minutes=5)
    r.tick()
    clock.advance(minutes=30)
    assert r.kinds(r.tick()) == ["all_clear"]
    clock.advance(minutes=10)
    assert r.kinds(r.tick(sig("sedang", "layer:1:v2"))) == ["cooldown"]
    res = r.tick(sig("tinggi", "layer:1:v3"))
    assert r.kinds(res) == ["alert"]  # a new thread
    assert res.decisions[0].thread_alert_id is None


def test_quiet_hours_hold_lower_levels_and_release_in_the_morning() -> None:
    rule = RuleConfig(
        hazards=("flood",),
        trigger="risk_level",
        threshold="sedang",
        quiet_start=time(22, 0),
        quiet_end=time(5, 0),
        quiet_bypass_level=AWAS,
    )
    night = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 23:30 WIB
    clock = Clock(night)
    r = Runner(rule, clock)
    assert in_quiet_hours(rule, night)
    assert r.kinds(r.tick(sig("tinggi"))) == ["held"]
    assert ("flood", CODE) not in r.states or r.states[("flood", CODE)].open_level == 0
    clock.advance(hours=5)  # 04:30 WIB, still quiet
    assert r.kinds(r.tick(sig("tinggi"))) == ["held"]
    clock.advance(minutes=30)  # 05:00 WIB
    assert not in_quiet_hours(rule, clock.now)
    assert r.kinds(r.tick(sig("tinggi"))) == ["alert"]


def test_highest_level_breaks_quiet_hours() -> None:
    rule = RuleConfig(
        hazards=("earthquake",),
        trigger="mmi",
        threshold="4",
        quiet_start=time(22, 0),
        quiet_end=time(5, 0),
    )
    clock = Clock(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))  # 00:00 WIB
    r = Runner(rule, clock)
    quake = Signal(
        community_code=CODE,
        hazard="earthquake",
        source_ref="bmkg:20261124000000",
        observed_at=clock.now,
        mmi=7.2,
    )
    res = r.tick(quake)
    assert r.kinds(res) == ["alert"] and res.decisions[0].level == AWAS
    weak = Signal(
        community_code="X", hazard="earthquake", source_ref="bmkg:2", observed_at=clock.now, mmi=4.5
    )
    assert r.kinds(r.tick(weak)) == ["held"]


def test_quiet_hours_within_a_day_and_other_zone() -> None:
    rule = RuleConfig(
        hazards=("flood",),
        trigger="risk_level",
        threshold="sedang",
        quiet_start=time(12, 0),
        quiet_end=time(13, 0),
        timezone="Asia/Jayapura",
    )
    assert in_quiet_hours(rule, datetime(2026, 11, 23, 3, 30, tzinfo=UTC))  # 12:30 WIT
    assert not in_quiet_hours(rule, datetime(2026, 11, 23, 5, 30, tzinfo=UTC))


def test_strongest_signal_per_community_wins() -> None:
    rule = RuleConfig(hazards=("earthquake",), trigger="mmi", threshold="4")
    r = Runner(rule, Clock(T0))
    signals = [
        Signal(CODE, "earthquake", "a", T0, mmi=4.2),
        Signal(CODE, "earthquake", "b", T0, mmi=6.1),
        Signal("other", "earthquake", "b", T0, mmi=3.0),
    ]
    (d,) = r.tick(*signals).decisions
    assert d.signal is not None
    assert (d.community_code, d.level, d.signal.source_ref) == (CODE, SIAGA, "b")


@pytest.mark.parametrize(
    ("trigger", "threshold", "field", "value", "fires", "level"),
    [
        ("cap_severity", "Severe", "cap_severity", "Extreme", True, AWAS),
        ("cap_severity", "Severe", "cap_severity", "Moderate", False, 0),
        ("alert_level", "orange", "alert_level", "Red", True, AWAS),
        ("alert_level", "orange", "alert_level", "green", False, 0),
        ("alert_level", "siaga", "alert_level", "siaga", True, SIAGA),
        ("mmi", "5", "mmi", 5.0, True, SIAGA),
        ("risk_level", "tinggi", "risk_level", "sedang", False, 0),
    ],
)
def test_trigger_kinds(
    trigger: str, threshold: str, field: str, value: object, fires: bool, level: int
) -> None:
    rule = RuleConfig(hazards=("volcano",), trigger=trigger, threshold=threshold)
    s = Signal(CODE, "volcano", "x", T0, **{field: value})  # type: ignore[arg-type]
    res = evaluate(rule=rule, signals=[s], states={}, now=T0)
    assert [d.level for d in res.of_kind("alert")] == ([level] if fires else [])


def test_bad_thresholds_are_named() -> None:
    with pytest.raises(TriggerError, match="risk_level"):
        parse_threshold("risk_level", "parah")
    with pytest.raises(TriggerError, match="mmi"):
        parse_threshold("mmi", "nan")
    with pytest.raises(TriggerError, match="unknown trigger"):
        parse_threshold("wind", "3")
    assert level_for("mmi", 8.0) == AWAS
