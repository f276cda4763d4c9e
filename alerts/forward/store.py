"""Deliveries that could not be made: table ``forward_dead_letters``.

A delivery lands here after its last attempt, at once on a refusal (a 4xx other than 408/429), when
its target's queue is full, or when the console stops with it still queued; it keeps the exact body
and delivery id, so a re-send is the same message (receivers de-duplicate on the id). Rows stay
until re-sent successfully or discarded (``/api/forward/dead-letters``).

>>> from zhizhi.layers import make_engine
>>> store = DeadLetterStore(make_engine("sqlite://"))
>>> row = store.add(DeadLetter(delivery="d1", target="t", alert_id="k3v9q2m7xa1b", event="new",
...     content_type="application/json", body=b"{}", attempts=3, reason="HTTP 500", first_ts=1.0, failed_ts=2.0))
>>> [d.delivery for d in store.list()], store.remove(row.id), store.list()
(['d1'], True, [])
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata

#: Longest reason kept (an error text, a receiver's answer cut short).
MAX_REASON = 500

dead_letters_table = Table(
    "forward_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery", String(40), nullable=False, index=True),
    Column("target", String(64), nullable=False, index=True),
    Column("alert_id", String(16), nullable=False, index=True),
    Column("event", String(16), nullable=False),
    Column("grid", String(CODE_LENGTH)),
    Column("assignee_unit", String(CODE_LENGTH)),
    Column("content_type", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer),
    Column("reason", Text, nullable=False),
    Column("first_ts", Float, nullable=False),
    Column("failed_ts", Float, nullable=False, index=True),
)


class DeadLetter(BaseModel):
    """One delivery given up on, with why."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    delivery: str = Field(description="Delivery id (X-Zhizhi-Delivery), kept on a re-send.")
    target: str = Field(description="The webhook target's name.")
    alert_id: str
    event: str = Field(description="The alert event delivered.")
    grid: str | None = None
    assignee_unit: str | None = None
    content_type: str
    body: bytes = Field(repr=False)
    attempts: int = Field(ge=0)
    status_code: int | None = Field(None, description="The receiver's last HTTP status, if it answered.")
    reason: str
    first_ts: float = Field(description="When the delivery was queued.")
    failed_ts: float = Field(description="When it was last given up on.")

    def summary(self) -> dict:
        """What the API lists (no body: it may be large; the alert id says what it was)."""
        return self.model_dump(exclude={"body"}) | {"size": len(self.body)}


class DeadLetterStore:
    """The dead-letter list in the console's database."""

    def __init__(self, engine: Engine) -> None:
        migrate(engine)
        self.engine = engine

    def add(self, letter: DeadLetter) -> DeadLetter:
        values = letter.model_dump(exclude={"id"}) | {"reason": letter.reason[:MAX_REASON]}
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(dead_letters_table).values(**values)).inserted_primary_key[0]
        return letter.model_copy(update={"id": int(new_id), "reason": values["reason"]})

    def get(self, letter_id: int) -> DeadLetter | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(dead_letters_table).where(dead_letters_table.c.id == letter_id)).first()
        return None if row is None else DeadLetter.model_validate(dict(row._mapping))

    def list(self, *, target: str | None = None, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Newest failure first."""
        table = dead_letters_table
        query = select(table).order_by(table.c.failed_ts.desc(), table.c.id.desc())
        if target is not None:
            query = query.where(dead_letters_table.c.target == target)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [DeadLetter.model_validate(dict(r._mapping)) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters_table)).scalar_one())

    def failed_again(self, letter_id: int, *, reason: str, status_code: int | None, at: float) -> None:
        """A re-send failed too: one more attempt, the new reason."""
        with self.engine.begin() as conn:
            conn.execute(update(dead_letters_table).where(dead_letters_table.c.id == letter_id).values(
                attempts=dead_letters_table.c.attempts + 1, reason=reason[:MAX_REASON],
                status_code=status_code, failed_ts=at))

    def remove(self, letter_id: int) -> bool:
        """Delete a row (re-sent or discarded); whether it existed."""
        with self.engine.begin() as conn:
            return conn.execute(delete(dead_letters_table).where(dead_letters_table.c.id == letter_id)).rowcount > 0
