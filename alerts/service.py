"""The alert service: warnings and people's reports in, alerts worked to closure out.

:meth:`AlertService.ingest` turns a :class:`~models.warning.record.WarningEvent` into an alert:

1. **locate** the point with the injected ``locate(lon, lat)``. A point outside the district
   (``None``) still becomes an alert — with null grid/village/town codes, ``district`` set and
   assigned to the district, whose command center decides — and is counted as ``unlocated``.
2. **deduplicate**: while an alert of the warning's key is open, later events update it —
   ``last_ts``, ``active``, cameras (union), details (merged), severity (only ever upwards; an
   upgrade also moves the assignee up to the new severity's level, never down). Never a second
   alert for an open key: the store's unique index guarantees it even across processes.
   **group**: a warning of a new key (another track after an id switch, another camera, the
   vehicle's own BeiDou reports) joins an open alert of the same rule kind at the same place
   (:class:`~alerts.policy.Grouping`: metres and seconds per rule) — of the same rule
   instance, or of the same kind from another source — unless both name different vehicles.
   It becomes one of the alert's ``members``; ``track_ids``, ``sources``, cameras and details
   grow, the alert is ``active`` while any member is. Its key then finds that alert directly.
3. **suppression**: a warning matching a policy window raises no new alert (counted in
   ``suppressed`` and logged). Windows do not touch alerts already open.
4. **cooldown**: a key whose alert was resolved or closed less than ``cooldown_s`` ago (by the
   service clock) opens no new alert (counted in ``cooldown``). A warning that has already
   ended (``active=False``) never opens one either (counted in ``ended``).
5. **route**: the assignee is the alert's unit at the level its severity routes to (policy);
   the deadline is intake time plus the category's time limit.

People's reports (:meth:`~AlertService.report_event`) must lie inside the district (and inside
the caller's scope); they go to the village or town of their category and are never suppressed.

Every change is stored in one transaction with its audit entries, then published on
:data:`zhizhi.bus.Topic.ALERTS` as an :class:`~zhizhi.bus.messages.AlertEvent` with event
``new``, ``updated``, ``transition``, ``escalated``, ``handed_down``, ``reminder`` or
``supervision``.

Overdue alerts (:meth:`~AlertService.check_deadlines`): once past ``deadline_ts +
reminder_after_s`` the assignee gets a reminder (提醒单); ``supervision_after_s`` after the
reminder, a still-open alert gets a supervision order (督办单) from the unit above the assignee
(the district supervises itself at the top), which also takes the alert over when
``escalate_on_supervision``. Each stage happens once; a reopen starts a new deadline and
stages afresh. Escalating or handing down keeps the deadline: the time limit belongs to the
case, not to the unit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from zhizhi.alerts.labels import AlertLabel
from zhizhi.alerts.lifecycle import NoteRequired, check_transition
from zhizhi.alerts.policy import AlertPolicy
from zhizhi.alerts.record import (
    SYSTEM_ACTOR,
    ActionKind,
    Alert,
    AlertAction,
    AlertMember,
    AlertStatus,
    EventReport,
    Verdict,
)
from zhizhi.alerts.store import AlertStore, DuplicateOpenKey, StaleAlert
from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.evidence import MAX_VIEWS, CameraEvidence
from zhizhi.gis.codes import (
    InvalidCodeError,
    Level,
    chain,
    is_within,
    level_of,
    validate_code,
)
from zhizhi.gis.crs import convert
from zhizhi.gis.jurisdiction import Location
from zhizhi.gis.metric import geodesic_distance_m
from zhizhi.layers.ids import new_alert_id
from zhizhi.layers.scope import Scope
from zhizhi.models.warning.record import Severity, WarningEvent

log = logging.getLogger(__name__)

Locate = Callable[[float, float], Location | None]
#: An alert's rule parameters and its camera's configuration (or ``None``), for its label.
Describe = Callable[[Alert], tuple[dict[str, Any], dict[str, Any] | None]]


class BulkAction(StrEnum):
    """What the board does to a group of alerts at once."""

    ACKNOWLEDGE = "acknowledge"
    CLOSE_DUPLICATE = "close_duplicate"
    CLOSE_FALSE_ALARM = "close_false_alarm"


def _with_verdict(note: str, verdict: Verdict | None) -> str:
    """The audit note of a closing with a verdict: ``[false_alarm] why``."""
    return note if verdict is None else f"[{verdict}] {note}".rstrip()
ScopeLike = Scope | str | None
# How far in the future a reported occurred_at may lie (clock skew of phones and PCs).
FUTURE_SKEW_S = 300.0
_ATTEMPTS = 3


class AlertError(Exception):
    """Base of the service's refusals."""


class AlertNotFound(AlertError, LookupError):
    """No such alert — or one the caller's jurisdiction may not see (indistinguishable)."""


class AlertConflict(AlertError):
    """The alert's state forbids the request (not open, a reopen colliding with an open key)."""


class RoutingError(AlertError, ValueError):
    """A hand-down the hierarchy does not allow (not below the assignee, not over the grid)."""


class NotResponsible(AlertError, PermissionError):
    """The caller may see the alert but does not hold it (escalate / hand down)."""


class OutsideDistrict(AlertError, ValueError):
    """A reported point outside every grid of the district."""


class OutsideJurisdiction(AlertError, PermissionError):
    """A reported point outside the caller's own jurisdiction."""


class InvalidReport(AlertError, ValueError):
    """A report the service cannot accept (e.g. an occurrence time in the future)."""


def unit_above(code: str) -> str | None:
    """The command tier above ``code``: grid or village -> town -> district -> ``None``."""
    level = level_of(code)
    codes = chain(code)
    if level in (Level.GRID, Level.VILLAGE, Level.MICRO_GRID):
        return codes[1]
    if level == Level.TOWN:
        return codes[0]
    return None


def _code_of(scope: ScopeLike) -> str:
    return scope.code if isinstance(scope, Scope) else (scope or "")


def _unit_at(location: Location, level: Level) -> str:
    return getattr(location, level.value)


def _clean(value: Any) -> Any:
    """JSON-safe details: non-finite floats become ``None`` (strict JSON in the database)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


Change = Callable[[Alert, float], tuple[list[AlertAction], list[str]] | None]
#: Asked before an alert is resolved: ``gate(alert, actor, note, now)`` gives the audit entries the
#: resolution adds, or raises (:class:`NoteRequired`) — the procedures' check (alerts.procedures).
ResolveGate = Callable[[Alert, str, str, float], list[AlertAction]]
#: ``write(alert, now)`` stores what an audit entry records (again on a retry) and gives its note.
Annotation = Callable[[Alert, float], str]


class AlertService:
    """Alert intake, lifecycle, routing and deadlines over an :class:`AlertStore`.

    ``locate(lon, lat)`` gives a WGS-84 point's :class:`~gis.jurisdiction.Location` or
    ``None`` outside the district; ``district`` is the district's code (assignee of alerts that
    cannot be located); ``clock`` gives "now" in epoch seconds (tests pass a fake one);
    ``describe(alert)`` gives the rule's parameters and the camera's configuration a verdict's
    label keeps (the console's running models and camera registry).
    """

    def __init__(
        self,
        store: AlertStore,
        locate: Locate,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
        policy: AlertPolicy | None = None,
        *,
        district: str,
        describe: Describe | None = None,
    ) -> None:
        self.store = store
        self.locate = locate
        self.bus = bus
        self.clock = clock
        self.policy = policy or AlertPolicy()
        self.describe = describe
        self.district = validate_code(district)
        if level_of(self.district) != Level.DISTRICT:
            raise InvalidCodeError(f"{district} is not a district code")
        self.resolve_gate: ResolveGate | None = None
        self.counters: Counter[str] = Counter()
        self.suppressed: Counter[str] = Counter()
        self._lock = threading.RLock()

    # --- intake ---------------------------------------------------------------------------

    def ingest(self, warning: WarningEvent) -> Alert | None:
        """The alert a warning created or updated, or ``None`` (suppressed, cooldown, ended)."""
        with self._lock:
            for _ in range(_ATTEMPTS):
                try:
                    return self._ingest(warning)
                except (StaleAlert, DuplicateOpenKey):  # another writer got there first
                    continue
            raise AlertConflict(f"warning {warning.key!r} collided with concurrent changes")

    def _ingest(self, w: WarningEvent) -> Alert | None:
        now = self.clock()
        joined = self.store.open_joined(w.key)
        if joined is not None:
            return self._absorb(joined, w, now)
        existing = self.store.last_done_by_key(w.key)  # (no open alert holds the key)
        if w.active or existing is None:
            group = self._group_of(w)
            if group is not None:
                return self._absorb(group, w, now)
        location = self.locate(w.lon, w.lat)
        grid = location.grid if location else None
        window = self.policy.suppressing(w.rule, w.rule_id, w.rule, grid, w.last_ts)
        if window is not None:
            self.counters["suppressed"] += 1
            self.suppressed[window.label] += 1
            log.info("warning %s suppressed by window %s", w.key, window.label)
            return None
        done_ts = existing.done_ts if existing is not None else None
        if done_ts is not None and now - done_ts < self.policy.cooldown_s:
            self.counters["cooldown"] += 1
            log.info("warning %s within cooldown of alert %s", w.key, existing.id)
            return None
        if not w.active:
            self.counters["ended"] += 1
            log.info("warning %s has ended and has no open alert: not raised", w.key)
            return None
        return self._create_from(w, location, now)

    def _create_from(self, w: WarningEvent, location: Location | None, now: float) -> Alert:
        if location is None:
            self.counters["unlocated"] += 1
            log.warning("warning %s at (%s, %s) lies outside the district", w.key, w.lon, w.lat)
            assignee, note = self.district, "outside the district's grids: assigned to the district"
            codes: dict[str, str | None] = {"district": self.district}
        else:
            assignee = _unit_at(location, self.policy.level_for(w.severity))
            note, codes = f"{w.severity} {w.rule} warning", location.model_dump()
        alert = Alert(
            id=new_alert_id(),
            key=w.key,
            rule=w.rule,
            rule_id=w.rule_id,
            model=w.model,
            severity=w.severity,
            source=w.source,
            category=w.rule,
            cameras=_union([], [w.camera_id, *w.cameras]),
            camera_id=w.camera_id,
            track_id=w.track_id,
            cls=w.cls,
            lon=w.lon,
            lat=w.lat,
            **codes,
            first_ts=w.first_ts,
            last_ts=w.last_ts,
            active=w.active,
            assignee_unit=assignee,
            deadline_ts=now + self.policy.time_limit(w.rule),
            details=_clean(w.details),
            members=[_member(w)],
            track_ids=[w.track_id] if w.track_id is not None else [],
            sources=[w.source],
            created_ts=now,
            updated_ts=now,
        )
        created = AlertAction(
            alert_id=alert.id, ts=now, actor=SYSTEM_ACTOR, action=ActionKind.CREATE,
            to_status=alert.status, unit=assignee, note=note,
        )
        self.store.create(alert, [created])
        self.counters["created"] += 1
        self._publish(alert, ["new"])
        return alert

    def _group_of(self, w: WarningEvent) -> Alert | None:
        """The open alert this warning of a new key belongs to (same rule, place and time)."""
        grouping = self.policy.grouping_for(w.rule_id, w.rule)
        if w.rule is None or grouping.radius_m <= 0:
            return None
        vehicle = _vehicle_of(w.details)
        best: tuple[float, Alert] | None = None
        for alert in self.store.open_near(w.rule, w.lon, w.lat, grouping.radius_m, w.first_ts - grouping.window_s):
            if alert.rule_id != w.rule_id and w.source in (alert.sources or [alert.source]):
                continue  # another rule instance of the same source: its own alert
            other = _vehicle_of(alert.details)
            if vehicle is not None and other is not None and vehicle != other:
                continue  # two registered vehicles side by side are two events
            distance = float(geodesic_distance_m(alert.lon, alert.lat, w.lon, w.lat))
            if distance <= grouping.radius_m and (best is None or distance < best[0]):
                best = (distance, alert)
        if best is None:
            return None
        self.counters["grouped"] += 1
        return best[1]

    def _absorb(self, alert: Alert, w: WarningEvent, now: float) -> Alert:
        """Fold a warning into its open alert: a repeat of a member, or a new member."""
        working = alert.model_copy(deep=True)
        notes: list[str] = []
        actions: list[AlertAction] = []
        events = ["updated"]
        if not working.members:  # stored before alerts had members
            working.members = [_member_of_alert(working)]
            working.sources = working.sources or [working.source]
            working.track_ids = working.track_ids or ([] if working.track_id is None else [working.track_id])
        member = next((m for m in working.members if m.key == w.key), None)
        if member is None:
            member = _member(w)
            working.members = _capped([*working.members, member])
            notes.append("joined by " + _describe(w))
        elif w.last_ts >= member.last_ts:
            member.last_ts, member.active = w.last_ts, w.active
        member.first_ts = min(member.first_ts, w.first_ts)
        if w.track_id is not None and w.track_id not in working.track_ids:
            working.track_ids = [*working.track_ids, w.track_id]
        if w.source not in working.sources:
            working.sources = [*working.sources, w.source]
        active = any(m.active for m in working.members)
        if working.active != active:
            notes.append("condition ended" if not active else "condition active again")
            working.active = active
        if w.last_ts >= working.last_ts:
            working.last_ts = w.last_ts
            if (w.lon, w.lat) != (alert.lon, alert.lat):
                working.details["last_position"] = [w.lon, w.lat]
        working.first_ts = min(working.first_ts, w.first_ts)
        cameras = _union(working.cameras, [w.camera_id, *w.cameras])
        if len(cameras) > len(working.cameras):
            notes.append("seen by " + ", ".join(cameras[len(working.cameras):]))
            working.cameras = cameras
        working.details = {**working.details, **_clean(w.details)}
        if Severity(w.severity).rank < working.severity.rank:
            notes.append(f"severity raised from {working.severity} to {w.severity}")
            working.severity = w.severity
            actions = self._reroute_up(working, now)
            if actions:
                events.append("escalated")
        if working == alert:
            return alert
        working.updated_ts = now
        if notes:
            actions.insert(0, AlertAction(
                alert_id=alert.id, ts=now, actor=SYSTEM_ACTOR, action=ActionKind.UPDATE,
                unit=working.assignee_unit, note="; ".join(notes),
            ))
        stored = self.store.update(working, actions, joined=_joined_keys(alert, working))
        self.counters["updated"] += 1
        self._publish(stored, events)
        return stored

    def _reroute_up(self, alert: Alert, now: float) -> list[AlertAction]:
        """After a severity upgrade, move the assignee up to the new severity's level (never down)."""
        target = getattr(alert, self.policy.level_for(alert.severity).value)
        if target is None or len(target) >= len(alert.assignee_unit):
            return []
        if not is_within(alert.assignee_unit, target):
            return []
        action = AlertAction(
            alert_id=alert.id, ts=now, actor=SYSTEM_ACTOR, action=ActionKind.ESCALATE,
            from_unit=alert.assignee_unit, unit=target, note=f"severity {alert.severity}",
        )
        alert.assignee_unit = target
        return [action]

    def report_event(self, report: EventReport, actor: str, scope: ScopeLike = None) -> Alert:
        """Open an alert for a report by people; :class:`OutsideDistrict` /
        :class:`OutsideJurisdiction` / :class:`InvalidReport` when it cannot be accepted."""
        now = self.clock()
        occurred = report.occurred_at
        if occurred is not None and occurred > now + FUTURE_SKEW_S:
            raise InvalidReport(f"occurred_at {occurred} lies in the future (now {now:.0f})")
        lon_a, lat_a = convert(report.lon, report.lat, report.crs)
        lon, lat = float(lon_a), float(lat_a)
        location = self.locate(lon, lat)
        if location is None:
            raise OutsideDistrict(
                f"point ({report.lon}, {report.lat}) [{report.crs}] is outside district {self.district}"
            )
        code = _code_of(scope)
        if not is_within(location.grid, code):
            raise OutsideJurisdiction(  # (not naming the grid: that would locate it for a stranger)
                f"point ({report.lon}, {report.lat}) [{report.crs}] lies outside jurisdiction {code}"
            )
        assignee = _unit_at(location, self.policy.event_level_for(report.category))
        details: dict[str, Any] = {}
        if report.crs != "wgs84":
            details["reported"] = {"crs": report.crs, "lon": report.lon, "lat": report.lat}
        alert_id = new_alert_id()
        ts = occurred if occurred is not None else now
        alert = Alert(
            id=alert_id,
            key=f"event|{alert_id}",
            severity=self.policy.event_severity_for(report.category),
            source=report.channel,
            category=report.category,
            lon=lon,
            lat=lat,
            **location.model_dump(),
            first_ts=ts,
            last_ts=ts,
            assignee_unit=assignee,
            deadline_ts=now + self.policy.time_limit(report.category),
            text=report.text,
            reporter=report.reporter,
            channel=report.channel,
            details=details,
            created_ts=now,
            updated_ts=now,
        )
        created = AlertAction(
            alert_id=alert_id, ts=now, actor=actor, action=ActionKind.CREATE,
            to_status=alert.status, unit=assignee, note=f"{report.channel} report by {report.reporter}",
        )
        with self._lock:
            self.store.create(alert, [created])
        self.counters["reported"] += 1
        self._publish(alert, ["new"])
        return alert

    # --- reads ----------------------------------------------------------------------------

    def get(self, alert_id: str, scope: ScopeLike = None) -> Alert:
        """The alert, or :class:`AlertNotFound` (also when ``scope`` may not see it)."""
        alert = self.store.get(alert_id, scope)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        return alert

    def history(self, alert_id: str, scope: ScopeLike = None) -> list[AlertAction]:
        """The alert's audit trail, oldest first (:class:`AlertNotFound` as for :meth:`get`)."""
        self.get(alert_id, scope)
        return self.store.history(alert_id)

    def list(self, scope: ScopeLike = None, **filters: Any) -> list[Alert]:
        """Alerts ``scope`` may see; filters as :meth:`AlertStore.list`."""
        return self.store.list(scope=scope, **filters)

    # --- lifecycle --------------------------------------------------------------------------

    def transition(
        self, alert_id: str, to: AlertStatus | str, actor: str, note: str = "", scope: ScopeLike = None,
        *, verdict: Verdict | str | None = None, duplicate_of: str | None = None,
    ) -> Alert:
        """Move an alert to status ``to`` (see :mod:`alerts.lifecycle`), recording who and why.

        Closing may say what the alert was: ``verdict`` ``false_alarm`` (the note must say why)
        or ``duplicate`` (of the open alert ``duplicate_of``, which takes over its members).
        Resolving asks ``resolve_gate`` first (the procedure's required steps: a note, and an
        entry for the unit above; :mod:`alerts.procedures`).
        Resolving is a ``confirmed`` event. Each verdict is stored as a label
        (:mod:`alerts.labels`) with what a backtest needs to replay the case.
        """
        verdict = Verdict(verdict) if verdict is not None else None
        if verdict == Verdict.DUPLICATE:
            if duplicate_of is None:
                raise InvalidReport("closing as duplicate needs duplicate_of: the alert it repeats")
            return self._close_duplicate(alert_id, duplicate_of, actor, note, scope)
        if verdict is not None and AlertStatus(to) != AlertStatus.CLOSED:
            raise InvalidReport(f"a verdict ({verdict}) goes with closing, not with {to}")
        if verdict == Verdict.FALSE_ALARM and not note.strip():
            raise NoteRequired("closing as a false alarm needs a note saying why")

        def change(alert: Alert, now: float):
            target = check_transition(alert.status, to, note)
            gated = (self.resolve_gate(alert, actor, note, now)
                     if target == AlertStatus.RESOLVED and self.resolve_gate is not None else [])
            action = AlertAction(
                alert_id=alert.id, ts=now, actor=actor, action=ActionKind.TRANSITION,
                from_status=alert.status, to_status=target, unit=alert.assignee_unit,
                note=_with_verdict(note, verdict),
            )
            alert.status = target
            if not target.is_open:
                alert.done_ts = now
                if verdict is not None:
                    alert.verdict = verdict
                elif target == AlertStatus.RESOLVED:
                    alert.verdict = Verdict.CONFIRMED
            elif target == AlertStatus.REOPENED:
                alert.done_ts = None
                alert.verdict = alert.duplicate_of = None
                alert.deadline_ts = now + self.policy.time_limit(alert.category)
                alert.reminded_ts = alert.supervised_ts = None
            return [action, *gated], ["transition"]

        return self._mutate(alert_id, scope, change, label_actor=actor, label_note=note)

    def annotate(
        self, alert_id: str, actor: str, write: Annotation, scope: ScopeLike = None, *,
        kind: ActionKind = ActionKind.UPDATE,
    ) -> Alert:
        """An audit entry of ``kind`` by ``actor`` on an open alert ``scope`` may see, its note from
        ``write(alert, now)`` (which may refuse by raising); published as ``updated``."""

        def change(alert: Alert, now: float):
            if not alert.is_open:
                raise AlertConflict(f"alert {alert.id} is {alert.status}; reopen it first")
            note = write(alert, now)
            return [AlertAction(alert_id=alert.id, ts=now, actor=actor, action=kind,
                                unit=alert.assignee_unit, note=note)], ["updated"]

        return self._mutate(alert_id, scope, change)

    def _close_duplicate(
        self, alert_id: str, duplicate_of: str, actor: str, note: str, scope: ScopeLike
    ) -> Alert:
        """Close ``alert_id`` as a duplicate of the open ``duplicate_of``, which takes over its
        members (tracks, cameras, sources), so their later warnings join it."""
        if duplicate_of == alert_id:
            raise InvalidReport("an alert cannot duplicate itself")
        with self._lock:
            target = self.get(duplicate_of, scope)
            if not target.is_open:
                raise AlertConflict(f"alert {duplicate_of} is {target.status}: keep an open alert, close the others")
            why = note or f"duplicate of {duplicate_of}"

            def close(alert: Alert, now: float):
                to = check_transition(alert.status, AlertStatus.CLOSED, why)
                action = AlertAction(
                    alert_id=alert.id, ts=now, actor=actor, action=ActionKind.TRANSITION,
                    from_status=alert.status, to_status=to, unit=alert.assignee_unit,
                    note=_with_verdict(why, Verdict.DUPLICATE) + f" (of {duplicate_of})",
                )
                alert.status, alert.done_ts = to, now
                alert.verdict, alert.duplicate_of = Verdict.DUPLICATE, duplicate_of
                return [action], ["transition"]

            closed = self._mutate(alert_id, scope, close, label_actor=actor, label_note=why)

            def take_over(alert: Alert, now: float):
                if not alert.is_open:
                    return None
                known = {m.key for m in alert.members} or {alert.key}
                alert.members = _capped(
                    [*(alert.members or [_member_of_alert(alert)]),
                     *(m for m in (closed.members or [_member_of_alert(closed)]) if m.key not in known)]
                )
                alert.track_ids = [*alert.track_ids, *(t for t in closed.track_ids if t not in alert.track_ids)]
                alert.sources = _union(alert.sources or [alert.source], list(closed.sources))
                alert.cameras = _union(alert.cameras, list(closed.cameras))
                alert.first_ts = min(alert.first_ts, closed.first_ts)
                alert.last_ts = max(alert.last_ts, closed.last_ts)
                action = AlertAction(
                    alert_id=alert.id, ts=now, actor=actor, action=ActionKind.UPDATE,
                    unit=alert.assignee_unit, note=f"took over duplicate {closed.id}",
                )
                return [action], ["updated"]

            self._mutate(duplicate_of, None, take_over)
            return closed

    def bulk(
        self, alert_ids: list[str], action: BulkAction | str, actor: str, note: str = "",
        scope: ScopeLike = None, *, duplicate_of: str | None = None,
    ) -> tuple[list[Alert], list[tuple[str, AlertError | ValueError]]]:
        """One action on many alerts, each as its own request would be: (done, failed with why)."""
        action = BulkAction(action)
        if action == BulkAction.CLOSE_FALSE_ALARM and not note.strip():
            raise NoteRequired("closing as false alarms needs a note saying why")
        if action == BulkAction.CLOSE_DUPLICATE and duplicate_of is None:
            raise InvalidReport("closing as duplicates needs duplicate_of: the alert they repeat")
        done: list[Alert] = []
        failed: list[tuple[str, AlertError | ValueError]] = []
        for alert_id in dict.fromkeys(alert_ids):
            try:
                if action == BulkAction.ACKNOWLEDGE:
                    done.append(self.transition(alert_id, AlertStatus.ACKNOWLEDGED, actor, note, scope))
                elif action == BulkAction.CLOSE_FALSE_ALARM:
                    done.append(self.transition(
                        alert_id, AlertStatus.CLOSED, actor, note, scope, verdict=Verdict.FALSE_ALARM))
                elif alert_id != duplicate_of:
                    done.append(self.transition(
                        alert_id, AlertStatus.CLOSED, actor, note, scope,
                        verdict=Verdict.DUPLICATE, duplicate_of=duplicate_of))
            except (AlertError, ValueError) as exc:
                failed.append((alert_id, exc))
        return done, failed

    def false_alarm_rates(self, scope: ScopeLike = None, *, since: float) -> list[dict[str, Any]]:
        """Per rule and camera, how many machine alerts raised since ``since`` were closed as
        false alarms: ``{rule, rule_id, camera_id, alerts, false_alarms, rate}``, highest rate
        (then count) first."""
        rows = self.store.verdict_counts(scope, since)
        out = [
            {"rule": rule, "rule_id": rule_id, "camera_id": camera, "alerts": total,
             "false_alarms": false, "rate": round(false / total, 4) if total else 0.0}
            for (rule, rule_id, camera), (total, false) in rows.items()
        ]
        return sorted(out, key=lambda r: (-r["rate"], -r["false_alarms"], -r["alerts"], str(r["rule_id"])))

    def escalate(self, alert_id: str, actor: str, note: str = "", scope: ScopeLike = None) -> Alert:
        """Move the assignee one tier up (grid/village -> town -> district); refused at the top."""

        def change(alert: Alert, now: float):
            self._check_holds(alert, scope, "escalate")
            upper = unit_above(alert.assignee_unit)
            if upper is None:
                raise AlertConflict(
                    f"alert {alert.id} is already with the district ({alert.assignee_unit}); "
                    "there is no level above"
                )
            action = AlertAction(
                alert_id=alert.id, ts=now, actor=actor, action=ActionKind.ESCALATE,
                from_status=alert.status, to_status=alert.status,
                from_unit=alert.assignee_unit, unit=upper, note=note,
            )
            alert.assignee_unit = upper
            return [action], ["escalated"]

        return self._mutate(alert_id, scope, change)

    def hand_down(
        self, alert_id: str, unit: str, actor: str, note: str = "", scope: ScopeLike = None
    ) -> Alert:
        """Assign to ``unit``: strictly below the current assignee and containing the alert's grid."""

        def change(alert: Alert, now: float):
            self._check_holds(alert, scope, "hand down")
            try:
                validate_code(unit)
            except InvalidCodeError as exc:
                raise RoutingError(str(exc)) from None
            current = alert.assignee_unit
            if unit == current or not is_within(unit, current):
                raise RoutingError(f"unit {unit} is not below the current assignee {current}")
            if alert.grid is None:
                raise RoutingError(f"alert {alert.id} has no grid (outside the district): it stays with {current}")
            if not is_within(alert.grid, unit):
                raise RoutingError(f"unit {unit} does not contain the alert's grid {alert.grid}")
            action = AlertAction(
                alert_id=alert.id, ts=now, actor=actor, action=ActionKind.HAND_DOWN,
                from_status=alert.status, to_status=alert.status, from_unit=current, unit=unit, note=note,
            )
            alert.assignee_unit = unit
            return [action], ["handed_down"]

        return self._mutate(alert_id, scope, change)

    def attach_evidence(
        self, alert_id: str, *, snapshot: str | None = None, clip: str | None = None,
        track: str | None = None, camera_id: str | None = None, actor: str = SYSTEM_ACTOR,
    ) -> Alert:
        """Record evidence files (paths relative to the evidence folder) on the alert: its
        snapshot, clip and observed tracks (``observations.jsonl``). With ``camera_id``, a
        camera other than the alert's first (``alert.camera_id``), they are that camera's view
        (``evidence.views``, merged with what it has; at most ``MAX_VIEWS`` cameras, further
        ones are left out) and the first camera's files stay as they are."""

        def change(alert: Alert, now: float):
            files = (("snapshot", snapshot), ("clip", clip), ("track", track))
            saved = {k: v for k, v in files if v is not None}
            if not saved:
                return None
            note = "evidence: " + ", ".join(sorted(saved))
            if camera_id is None or camera_id == alert.camera_id:
                alert.evidence = alert.evidence.model_copy(update=saved)
            else:
                views = list(alert.evidence.views)
                at = next((i for i, v in enumerate(views) if v.camera_id == camera_id), None)
                if at is not None:
                    views[at] = views[at].model_copy(update=saved)
                elif len(views) < MAX_VIEWS:
                    views.append(CameraEvidence(camera_id=camera_id, **saved))
                else:
                    log.warning("alert %s has the evidence of %d cameras already; %s of %s left out",
                                alert.id, MAX_VIEWS, sorted(saved), camera_id)
                    return None
                alert.evidence = alert.evidence.model_copy(update={"views": views})
                note += f" of {camera_id}"
            action = AlertAction(
                alert_id=alert.id, ts=now, actor=actor, action=ActionKind.UPDATE,
                unit=alert.assignee_unit, note=note,
            )
            return [action], ["updated"]

        return self._mutate(alert_id, None, change)

    def check_deadlines(self, now: float | None = None) -> list[AlertAction]:
        """Reminders and supervision orders now due; idempotent (each stage once per alert)."""
        now = self.clock() if now is None else now
        done: list[AlertAction] = []
        policy = self.policy

        def change(alert: Alert, at: float):
            if not alert.is_open or alert.deadline_ts is None:
                return None
            if alert.reminded_ts is None:
                if at < alert.deadline_ts + policy.reminder_after_s:
                    return None
                alert.reminded_ts = at
                late_min = (at - alert.deadline_ts) / 60
                actions = [AlertAction(
                    alert_id=alert.id, ts=at, actor=SYSTEM_ACTOR, action=ActionKind.REMINDER,
                    from_status=alert.status, to_status=alert.status, unit=alert.assignee_unit,
                    note=f"提醒单: overdue by {late_min:.0f} min",
                )]
                return actions, ["reminder"]
            if alert.supervised_ts is not None or at < alert.reminded_ts + policy.supervision_after_s:
                return None
            holder = alert.assignee_unit
            upper = unit_above(holder) or holder
            alert.supervised_ts = at
            actions = [AlertAction(
                alert_id=alert.id, ts=at, actor=SYSTEM_ACTOR, action=ActionKind.SUPERVISION,
                from_status=alert.status, to_status=alert.status, from_unit=holder, unit=upper,
                note=f"督办单: still {alert.status} {(at - alert.reminded_ts) / 60:.0f} min after the reminder",
            )]
            events = ["supervision"]
            if policy.escalate_on_supervision and upper != holder:
                alert.assignee_unit = upper
                actions.append(AlertAction(
                    alert_id=alert.id, ts=at, actor=SYSTEM_ACTOR, action=ActionKind.ESCALATE,
                    from_status=alert.status, to_status=alert.status, from_unit=holder, unit=upper,
                    note="taken over with the supervision order",
                ))
                events.append("escalated")
            return actions, events

        for alert in self.store.overdue(now):
            try:
                _, actions = self._apply(alert.id, None, change, now)
            except AlertNotFound:  # pragma: no cover - alerts are never deleted
                continue
            done += actions
        return done

    # --- plumbing ---------------------------------------------------------------------------

    def _check_holds(self, alert: Alert, scope: ScopeLike, what: str) -> None:
        code = _code_of(scope)
        if not alert.is_open:
            raise AlertConflict(f"alert {alert.id} is {alert.status}; reopen it before you {what} it")
        if not is_within(alert.assignee_unit, code):
            raise NotResponsible(
                f"alert {alert.id} is assigned to {alert.assignee_unit}; only that unit or one "
                f"above it may {what} it"
            )

    def _mutate(
        self, alert_id: str, scope: ScopeLike, change: Change, *,
        label_actor: str | None = None, label_note: str = "",
    ) -> Alert:
        alert, _ = self._apply(alert_id, scope, change, None, label_actor=label_actor, label_note=label_note)
        return alert

    def _label(self, before: Alert, after: Alert, actor: str | None, note: str, now: float) -> AlertLabel | None:
        """The label a change gives, if it set a verdict on a machine alert."""
        if actor is None or after.verdict is None or after.verdict == before.verdict or after.rule is None:
            return None
        params, camera = self.describe(after) if self.describe is not None else ({}, None)
        return AlertLabel.of_alert(after, after.verdict, note=note, actor=actor, ts=now, params=params, camera=camera)

    def _apply(
        self, alert_id: str, scope: ScopeLike, change: Change, now: float | None, *,
        label_actor: str | None = None, label_note: str = "",
    ) -> tuple[Alert, list[AlertAction]]:
        """Read, change, store with the audit entries (and a verdict's label), publish; retried
        when a writer races."""
        with self._lock:
            for _ in range(_ATTEMPTS):
                alert = self.get(alert_id, scope)
                at = self.clock() if now is None else now
                working = alert.model_copy(deep=True)
                result = change(working, at)
                if result is None:
                    return alert, []
                actions, events = result
                working.updated_ts = at
                label = self._label(alert, working, label_actor, label_note, at)
                late = working.verdict is not None and label is None and working.evidence != alert.evidence
                try:
                    stored = self.store.update(
                        working, actions, label=label, joined=_joined_keys(alert, working),
                        label_evidence=working.evidence.model_dump() if late else None,
                    )
                except StaleAlert:
                    continue
                except DuplicateOpenKey:
                    open_one = self.store.open_by_key(alert.key)
                    raise AlertConflict(
                        f"alert {open_one.id if open_one else '?'} with the same key is open; "
                        "work on that one instead"
                    ) from None
                self._publish(stored, events)
                return stored, actions
            raise AlertConflict(f"alert {alert_id} kept changing; try again")

    def _publish(self, alert: Alert, events: list[str]) -> None:
        if self.bus is None:
            return
        for event in events:
            try:
                self.bus.publish(Topic.ALERTS, alert.to_event(event))
            except Exception:  # the change is stored; a broken transport must not undo it
                log.exception("publishing alert %s (%s) failed", alert.id, event)


#: At most this many members are listed on one alert (the first and the newest; their keys all
#: stay in the store's key table, so a dropped member's warnings still find the alert).
MAX_MEMBERS = 50


def _joined_keys(before: Alert, after: Alert) -> list[str]:
    """The warning keys a change folded into an alert (its members' keys it did not hold)."""
    known = {before.key, *(m.key for m in before.members)}
    return [m.key for m in after.members if m.key not in known]


def _member(w: WarningEvent) -> AlertMember:
    return AlertMember(
        key=w.key, source=w.source, camera_id=w.camera_id, track_id=w.track_id,
        vehicle_id=_vehicle_of(w.details), first_ts=w.first_ts, last_ts=w.last_ts, active=w.active,
    )


def _member_of_alert(alert: Alert) -> AlertMember:
    return AlertMember(
        key=alert.key, source=alert.source, camera_id=alert.camera_id, track_id=alert.track_id,
        vehicle_id=_vehicle_of(alert.details), first_ts=alert.first_ts, last_ts=alert.last_ts,
        active=alert.active,
    )


def _capped(members: list[AlertMember]) -> list[AlertMember]:
    if len(members) <= MAX_MEMBERS:
        return members
    return [members[0], *members[len(members) - MAX_MEMBERS + 1:]]


def _vehicle_of(details: dict[str, Any]) -> str | None:
    vehicle = details.get("vehicle_id")
    return str(vehicle) if vehicle else None


def _describe(w: WarningEvent) -> str:
    """How the audit trail names a joining warning."""
    if w.source == "telemetry":
        return f"telemetry of {_vehicle_of(w.details) or 'a vehicle'}"
    what = f"track {w.track_id}" if w.track_id is not None else "a warning"
    return f"{what} of {w.camera_id}" if w.camera_id else what


def _union(first: list[str], more: list[str | None]) -> list[str]:
    """``first`` then the new non-empty entries of ``more``, in order, without repeats."""
    out = list(first)
    for item in more:
        if item and item not in out:
            out.append(item)
    return out


__all__ = [
    "AlertConflict",
    "AlertError",
    "AlertNotFound",
    "AlertPolicy",
    "AlertService",
    "BulkAction",
    "Describe",
    "InvalidReport",
    "Locate",
    "NotResponsible",
    "OutsideDistrict",
    "OutsideJurisdiction",
    "RoutingError",
    "unit_above",
]
