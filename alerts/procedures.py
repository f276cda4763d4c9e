"""Standard operating procedures (SOPs, 处置规程): a checklist per alert category, versioned,
and the steps ticked on each alert.

- **Per category.** A procedure belongs to an alert category: a machine alert's rule kind
  (``abnormal_stop``, ``speeding``, ``signal_loss`` ...) or a people's report's category
  (``fire`` ...). Its steps each have a text and a ``required`` flag.
- **Versioned.** Saving a category's procedure adds a version (1, 2, ...); older versions are
  kept with who saved them, when and why. The shipped ones (:mod:`alerts.procedure_defaults`)
  are version 1, saved by ``system``.
- **An alert keeps its version.** An alert follows the version in force when it was created:
  the newest saved at or before its ``created_ts`` (the first version when the alert is older
  than every version). A later edit never changes the checklist of an alert already raised.
- **Ticks.** Ticking (or unticking) a step stores the step's state with who and when, and adds
  an audit entry to the alert, published as an alert update (:meth:`Procedures.tick`).
- **Resolving is gated** (:meth:`Procedures.gate`, the alert service's ``resolve_gate``): with
  required steps unticked, resolving needs a note (:class:`~alerts.lifecycle.NoteRequired`
  otherwise), and the alert's audit trail gets a ``sop_skipped`` entry naming the steps, the
  note and the unit above the assignee (the supervisor), whom the console notifies.

>>> from zhizhi.layers import make_engine
>>> store = ProcedureStore(make_engine("sqlite://"))
>>> store.seed({"speeding": ("超速处置", [("核实车速", True)])}, ts=100.0)
1
>>> v2 = store.save("speeding", ProcedureDraft(title="超速处置", steps=[Step(text="核实车速"),
...                 Step(text="提醒驾驶员", required=False)]), "admin", ts=200.0)
>>> v2.version, store.for_alert("speeding", 150.0).version, store.for_alert("speeding", 250.0).version
(2, 1, 2)
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from zhizhi.alerts.lifecycle import NoteRequired
from zhizhi.alerts.procedure_defaults import DEFAULT_PROCEDURES
from zhizhi.alerts.record import ActionKind, Alert, AlertAction, AlertStatus
from zhizhi.alerts.service import AlertError, AlertService, ScopeLike, unit_above
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata

procedures_table = Table(
    "alert_procedures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("category", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("title", String(100), nullable=False),
    Column("steps", JSON, nullable=False),
    Column("author", String(100), nullable=False),
    Column("ts", Float, nullable=False),
    Column("note", Text, nullable=False),
    UniqueConstraint("category", "version", name="uq_alert_procedures_version"),
)

ticks_table = Table(
    "alert_procedure_ticks",
    metadata,
    Column("alert_id", String(16), ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("done", Boolean, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("ts", Float, nullable=False),
)

_P = procedures_table.c
_T = ticks_table.c
_ATTEMPTS = 3
CATEGORY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class Step(BaseModel):
    """One step of a procedure."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=300, description="What to do, in words the duty officer reads.")
    required: bool = Field(True, description="Resolving with it unticked needs a note and notifies the supervisor.")


class ProcedureDraft(BaseModel):
    """What an admin saves: a category's procedure as its next version."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=100, description="The procedure's name (Chinese).")
    steps: list[Step] = Field(min_length=1, max_length=30, description="The checklist, in order.")
    note: str = Field("", max_length=2000, description="Why this version: shown in the version list.")


class Procedure(BaseModel):
    """One saved version of a category's procedure."""

    category: str
    version: int = Field(ge=1)
    title: str
    steps: list[Step]
    author: str = Field(description="Who saved this version (system: shipped).")
    ts: float = Field(description="When it was saved (epoch seconds).")
    note: str = ""


class StepState(BaseModel):
    """A step of an alert's checklist and where it stands."""

    no: int = Field(ge=1, description="The step's number, from 1.")
    text: str
    required: bool
    done: bool = False
    actor: str | None = Field(None, description="Who last ticked or unticked it.")
    ts: float | None = Field(None, description="When.")


class Checklist(BaseModel):
    """An alert's procedure (the version in force when it was created) with its ticks."""

    alert_id: str
    category: str
    version: int | None = Field(None, description="None: the category has no procedure.")
    title: str | None = None
    steps: list[StepState] = Field(default_factory=list)

    @property
    def required_left(self) -> list[StepState]:
        """The required steps not (or no longer) ticked."""
        return [s for s in self.steps if s.required and not s.done]

    def to_message(self) -> dict:
        return self.model_dump(mode="json") | {"required_left": [s.no for s in self.required_left]}


class NoProcedure(AlertError, ValueError):
    """The alert's category has no procedure: there is nothing to tick."""


class StepNotFound(AlertError, ValueError):
    """No step of that number in the alert's procedure."""


def _procedure(row) -> Procedure:
    return Procedure.model_validate({k: v for k, v in row._mapping.items() if k != "id"})


class ProcedureStore:
    """Procedure versions and the ticks of each alert, in the console's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)

    def save(self, category: str, draft: ProcedureDraft, author: str, ts: float) -> Procedure:
        """Store ``draft`` as ``category``'s next version (one writer wins each number)."""
        for _ in range(_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(select(func.max(_P.version)).where(_P.category == category)).scalar()
                    saved = Procedure(category=category, version=(last or 0) + 1, title=draft.title,
                                      steps=draft.steps, author=author, ts=ts, note=draft.note)
                    conn.execute(insert(procedures_table).values(saved.model_dump(mode="json")))
                return saved
            except IntegrityError:  # another writer took the number: read again
                continue
        raise RuntimeError(f"procedure {category} kept changing; try again")

    def seed(self, defaults: Mapping[str, tuple[str, list[tuple[str, bool]]]], ts: float) -> int:
        """Save the shipped procedure of every category that has none; how many were added."""
        known = set(self.categories())
        added = 0
        for category, (title, steps) in defaults.items():
            if category in known:
                continue
            draft = ProcedureDraft(title=title, steps=[Step(text=t, required=r) for t, r in steps],
                                   note="随系统提供的默认规程 shipped with zhizhi")
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(procedures_table).values(Procedure(
                        category=category, version=1, author="system", ts=ts, **draft.model_dump()
                    ).model_dump(mode="json")))
                added += 1
            except IntegrityError:  # another console seeded it first
                continue
        return added

    def categories(self) -> list[str]:
        """Every category with a procedure."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(_P.category).distinct()).scalars())

    def current(self) -> list[Procedure]:
        """The newest version of every category, by category."""
        newest = select(_P.category, func.max(_P.version).label("v")).group_by(_P.category).subquery()
        query = (select(procedures_table)
                 .join(newest, and_(_P.category == newest.c.category, _P.version == newest.c.v))
                 .order_by(_P.category))
        with self.engine.connect() as conn:
            return [_procedure(r) for r in conn.execute(query)]

    def versions(self, category: str) -> list[Procedure]:
        """Every version of ``category``, newest first."""
        query = select(procedures_table).where(_P.category == category).order_by(_P.version.desc())
        with self.engine.connect() as conn:
            return [_procedure(r) for r in conn.execute(query)]

    def for_alert(self, category: str, created_ts: float) -> Procedure | None:
        """The version an alert of ``category`` created at ``created_ts`` follows."""
        base = select(procedures_table).where(_P.category == category)
        with self.engine.connect() as conn:
            row = conn.execute(base.where(_P.ts <= created_ts).order_by(_P.version.desc()).limit(1)).first()
            if row is None:
                row = conn.execute(base.order_by(_P.version).limit(1)).first()
        return None if row is None else _procedure(row)

    def ticks(self, alert_id: str) -> dict[int, dict]:
        """Step number -> ``{done, actor, ts, version}`` of the steps ticked on an alert."""
        query = select(ticks_table).where(_T.alert_id == alert_id)
        with self.engine.connect() as conn:
            return {r.step: {"done": r.done, "actor": r.actor, "ts": r.ts, "version": r.version}
                    for r in conn.execute(query)}

    def tick(self, alert_id: str, step: int, version: int, done: bool, actor: str, ts: float) -> None:
        """Store the state of an alert's step (replacing the one before)."""
        with self.engine.begin() as conn:
            conn.execute(delete(ticks_table).where(_T.alert_id == alert_id, _T.step == step))
            conn.execute(insert(ticks_table).values(alert_id=alert_id, step=step, version=version, done=done,
                                                    actor=actor, ts=ts))


class Procedures:
    """Alerts' checklists over a :class:`ProcedureStore` and the :class:`AlertService`."""

    def __init__(self, store: ProcedureStore, alerts: AlertService) -> None:
        self.store = store
        self.alerts = alerts

    def checklist_of(self, alert: Alert) -> Checklist:
        """The alert's procedure with its ticks (no steps when its category has none)."""
        procedure = self.store.for_alert(alert.category, alert.created_ts)
        if procedure is None:
            return Checklist(alert_id=alert.id, category=alert.category)
        ticks = self.store.ticks(alert.id)
        steps = []
        for no, step in enumerate(procedure.steps, start=1):
            tick = ticks.get(no, {})
            steps.append(StepState(no=no, text=step.text, required=step.required, done=bool(tick.get("done")),
                                   actor=tick.get("actor"), ts=tick.get("ts")))
        return Checklist(alert_id=alert.id, category=alert.category, version=procedure.version,
                         title=procedure.title, steps=steps)

    def checklist(self, alert_id: str, scope: ScopeLike = None) -> Checklist:
        """The checklist of an alert ``scope`` may see (:class:`AlertNotFound` otherwise)."""
        return self.checklist_of(self.alerts.get(alert_id, scope))

    def tick(self, alert_id: str, step: int, done: bool, actor: str, scope: ScopeLike = None) -> Checklist:
        """Tick (``done``) or untick step ``step`` of an open alert ``scope`` may see, recording who
        and when, with an audit entry published as the alert's update."""

        def write(alert: Alert, now: float) -> str:
            procedure = self.store.for_alert(alert.category, alert.created_ts)
            if procedure is None:
                raise NoProcedure(f"alert {alert.id} ({alert.category}) has no procedure to tick")
            if not 1 <= step <= len(procedure.steps):
                raise StepNotFound(f"the procedure of alert {alert.id} has steps 1 to {len(procedure.steps)}, "
                                   f"not {step}")
            self.store.tick(alert.id, step, procedure.version, done, actor, now)  # the same again on a retry
            verb = "完成" if done else "取消完成"
            return f"规程步骤{verb}：{step}. {procedure.steps[step - 1].text}"

        alert = self.alerts.annotate(alert_id, actor, write, scope, kind=ActionKind.PROCEDURE)
        return self.checklist_of(alert)

    def gate(self, alert: Alert, actor: str, note: str, now: float) -> list[AlertAction]:
        """Before ``alert`` is resolved: nothing when every required step is ticked; else
        :class:`NoteRequired` without a note, and with one the ``sop_skipped`` audit entry for
        the unit above the assignee."""
        left = self.checklist_of(alert).required_left
        if not left:
            return []
        numbers = ", ".join(str(s.no) for s in left)
        if not note.strip():
            raise NoteRequired(f"必做步骤 {numbers} 未完成：办结需填写说明，并通知上级 · required steps {numbers} "
                               "are not ticked: resolving needs a note saying why (the unit above is notified)")
        upper = unit_above(alert.assignee_unit) or alert.assignee_unit
        steps = "；".join(f"{s.no}. {s.text}" for s in left)
        return [AlertAction(
            alert_id=alert.id, ts=now, actor=actor, action=ActionKind.SOP_SKIPPED,
            from_status=alert.status, to_status=AlertStatus.RESOLVED, from_unit=alert.assignee_unit,
            unit=upper, note=f"未完成必做步骤即办结：{steps}｜说明：{note.strip()}",
        )]


def open_procedures(alerts: AlertService, engine: Engine) -> Procedures:
    """The procedures on the console's database, the shipped ones seeded (version 1 of every
    category without one), gating the alert service's resolutions."""
    store = ProcedureStore(engine)
    store.seed(DEFAULT_PROCEDURES, ts=alerts.clock())
    procedures = Procedures(store, alerts)
    alerts.resolve_gate = procedures.gate
    return procedures


__all__ = [
    "CATEGORY_PATTERN",
    "Checklist",
    "NoProcedure",
    "Procedure",
    "ProcedureDraft",
    "ProcedureStore",
    "Procedures",
    "Step",
    "StepNotFound",
    "StepState",
    "open_procedures",
    "procedures_table",
    "ticks_table",
]
