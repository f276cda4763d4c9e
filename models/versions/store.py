"""The model store: versions and their audit in the console's database (tables and store).

Two tables (SQLAlchemy Core; SQLite and PostgreSQL): ``model_versions`` holds each version's
text as it was added with its status, author, reason and checksum; ``model_audit`` holds one
row per change. A change and its audit row are one transaction (the rules: the package
docstring).

>>> from zhizhi.layers import make_engine
>>> from zhizhi.models.warning.config import SHIPPED_MODEL
>>> store = ModelStore(make_engine("sqlite://"))
>>> v1 = store.add("warning", SHIPPED_MODEL.read_text(), "ana", "shipped")
>>> v1.label, v1.status
('default@1', 'draft')
>>> store.promote("warning", "default", 1, "ana", "go live").status
'production'
>>> [(a.action, a.actor, a.version) for a in store.audit()]
[('promote', 'ana', 1), ('add', 'ana', 1)]
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.models.versions.content import (
    DetectorManifest,
    Kind,
    check_kind,
    check_weights,
    checksum,
    normalised,
    normalised_yaml,
    parse_content,
)
from zhizhi.models.versions.diff import ModelDiff, diff_changes
from zhizhi.models.versions.errors import ModelConflict, ModelVersionError, UnknownModel
from zhizhi.models.versions.record import AuditEntry, Listener, ModelVersion

log = logging.getLogger(__name__)


versions_table = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("author", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("checksum", String(64), nullable=False),
    # '' for a version of every camera; a camera id for a detector adapted to one camera's site
    Column("scope", String(64), nullable=False, server_default=""),
    UniqueConstraint("kind", "name", "version", name="ux_model_versions_kind_name_version"),
)
# At most one production version per kind and scope: the database itself refuses a second one.
Index(
    "ux_model_versions_production",
    versions_table.c.kind,
    versions_table.c.scope,
    unique=True,
    sqlite_where=versions_table.c.status == "production",
    postgresql_where=versions_table.c.status == "production",
)

audit_table = Table(
    "model_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(16), nullable=False),
    Column("kind", String(16), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_name", String(64)),
    Column("from_version", Integer),
    Column("reason", Text, nullable=False),
)

_V = versions_table.c
_A = audit_table.c


class ModelStore:
    """Model versions and their audit trail in one database (see the module docstring).

    ``base_dir`` resolves relative detector weights paths (default: the working folder).
    """

    def __init__(self, engine: Engine, *, base_dir: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.base_dir = base_dir
        self.clock = clock
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        migrate(engine)  # the one way the schema is made: layers.db.migrate

    def on_promoted(self, listener: Listener) -> None:
        """Call ``listener(version, action)`` after each committed promotion or rollback."""
        self._listeners.append(listener)

    # --- reads -----------------------------------------------------------------------------
    def get(self, kind: str, name: str, version: int) -> ModelVersion:
        """One version; :class:`UnknownModel` if there is none."""
        with self.engine.connect() as conn:
            return self._get(conn, check_kind(kind), name, version)

    def list(self, kind: str | None = None, name: str | None = None, scope: str | None = None) -> list[ModelVersion]:
        """Versions by kind, name and version (of one ``scope``: a camera id, or ``''``; None: all)."""
        query = select(versions_table).order_by(_V.kind, _V.name, _V.version)
        if kind is not None:
            query = query.where(_V.kind == check_kind(kind))
        if name is not None:
            query = query.where(_V.name == name)
        if scope is not None:
            query = query.where(_V.scope == scope)
        with self.engine.connect() as conn:
            return [_version(r) for r in conn.execute(query)]

    def production(self, kind: str, name: str | None = None, scope: str = "") -> ModelVersion | None:
        """The production version of ``kind`` (of that ``name``, if given) for ``scope`` (``''``:
        every camera's; a camera id: that camera's own, if it has one), or ``None``."""
        with self.engine.connect() as conn:
            found = self._production(conn, check_kind(kind), scope)
        return found if found is not None and (name is None or found.name == name) else None

    def scoped_productions(self, kind: str) -> dict[str, ModelVersion]:
        """The production versions of ``kind`` scoped to one camera, by camera id."""
        query = select(versions_table).where(
            and_(_V.kind == check_kind(kind), _V.status == "production", _V.scope != ""))
        with self.engine.connect() as conn:
            return {v.scope: v for v in (_version(r) for r in conn.execute(query))}

    def audit(self, kind: str | None = None, name: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Changes, newest first."""
        query = select(audit_table).order_by(_A.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(_A.kind == check_kind(kind))
        if name is not None:
            query = query.where(_A.name == name)
        with self.engine.connect() as conn:
            return [AuditEntry.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    def diff(self, kind: str, name: str, a: int, b: int) -> ModelDiff:
        """Compare versions ``a`` and ``b`` of a model (``str()`` of it: the text and the paths)."""
        va, vb = self.get(kind, name, a), self.get(kind, name, b)
        ya, yb = normalised_yaml(kind, va.content), normalised_yaml(kind, vb.content)
        unified = "".join(difflib.unified_diff(
            ya.splitlines(keepends=True), yb.splitlines(keepends=True), fromfile=va.label, tofile=vb.label))
        changes = diff_changes(normalised(kind, va.content), normalised(kind, vb.content))
        return ModelDiff(kind=va.kind, name=name, a=a, b=b, unified=unified, changes=changes)

    # --- writes ----------------------------------------------------------------------------
    def add(self, kind: str, content: str, author: str, reason: str) -> ModelVersion:
        """Store a new version as a draft (validated first; :class:`ModelConfigError` lists every
        bad path). The same ``name@version`` with the same text returns the stored version."""
        kind = check_kind(kind)
        author, reason = _required(author, "author"), _required(reason, "reason", 2000)
        parsed = parse_content(kind, content)
        scope = ""
        if isinstance(parsed, DetectorManifest):
            content = self._detector_content(parsed)
            parsed = DetectorManifest.model_validate_json(content)
            scope = parsed.camera_id or ""
        name, version = parsed.name, parsed.version
        assert name is not None and version is not None
        digest = checksum(content)
        with self._lock, self.engine.begin() as conn:
            existing = self._find(conn, kind, name, version)
            if existing is not None:
                if existing.checksum == digest:
                    return existing
                raise ModelConflict(
                    f"{kind} model {name}@{version} exists with a different text: raise the version number")
            row = {"kind": kind, "name": name, "version": version, "content": content, "status": "draft",
                   "author": author, "reason": reason, "created_ts": self.clock(), "checksum": digest,
                   "scope": scope}
            new_id = conn.execute(insert(versions_table).values(row)).inserted_primary_key[0]
            self._audit(conn, author, "add", kind, name, version, None, reason)
        log.info("%s model %s@%d added by %s: %s", kind, name, version, author, reason)
        return ModelVersion(id=new_id, **row)

    def promote(self, kind: str, name: str, version: int, actor: str, reason: str) -> ModelVersion:
        """Put a version into production (the current one of its kind and scope is retired)."""
        return self._switch(check_kind(kind), name, version, _required(actor, "actor"),
                            _required(reason, "reason", 2000), "promote")

    def rollback(self, kind: str, actor: str, reason: str, scope: str = "") -> ModelVersion:
        """Back to the version in production before the current one (from the audit), in ``scope``
        (``''``: every camera's; a camera id: that camera's own versions)."""
        kind, actor, reason = check_kind(kind), _required(actor, "actor"), _required(reason, "reason", 2000)
        with self._lock:
            with self.engine.connect() as conn:
                stack = self._promotions(conn, kind, scope)
            if len(stack) < 2:
                where = f" of camera {scope}" if scope else ""
                raise ModelConflict(f"no earlier {kind} production version{where} to roll back to")
            name, version = stack[-2]
            return self._switch(kind, name, version, actor, reason, "rollback")

    def retire(self, kind: str, name: str, version: int, actor: str, reason: str) -> ModelVersion:
        """Mark a draft as not to be used (a production version is replaced by promoting another)."""
        kind, actor, reason = check_kind(kind), _required(actor, "actor"), _required(reason, "reason", 2000)
        with self._lock, self.engine.begin() as conn:
            found = self._get(conn, kind, name, version)
            if found.status != "draft":
                raise ModelConflict(f"{kind} model {found.label} is {found.status}, not a draft")
            conn.execute(update(versions_table).where(_V.id == found.id).values(status="retired"))
            self._audit(conn, actor, "retire", kind, name, version, None, reason)
        return found.model_copy(update={"status": "retired"})

    def seed(
        self, kind: str, content: str, actor: str = "system", reason: str = "shipped model"
    ) -> ModelVersion | None:
        """Add and promote ``content`` when ``kind`` has no production version; else ``None``."""
        if self.production(kind) is not None:
            return None
        added = self.add(kind, content, actor, reason)
        try:
            return self.promote(kind, added.name, added.version, actor, reason)
        except ModelConflict:  # another process seeded it meanwhile
            return self.production(kind)

    # --- internals -------------------------------------------------------------------------
    def _switch(self, kind: Kind, name: str, version: int, actor: str, reason: str, action: str) -> ModelVersion:
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    target = self._get(conn, kind, name, version)
                    if target.status == "production":
                        raise ModelConflict(f"{kind} model {target.label} is in production already")
                    current = self._production(conn, kind, target.scope)
                    if current is not None:
                        conn.execute(update(versions_table).where(_V.id == current.id).values(status="retired"))
                    conn.execute(update(versions_table).where(_V.id == target.id).values(status="production"))
                    self._audit(conn, actor, action, kind, name, version, current, reason)
            except IntegrityError as exc:  # another process promoted in between
                raise ModelConflict(f"the {kind} production version changed meanwhile; try again") from exc
        promoted = target.model_copy(update={"status": "production"})
        log.info("%s model %s: %s by %s (was %s): %s", kind, promoted.label, action, actor,
                 current.label if current else "none", reason)
        for listener in list(self._listeners):
            try:
                listener(promoted, action)
            except Exception:
                log.exception("a listener of model promotions failed")
        return promoted

    def _promotions(self, conn: Connection, kind: str, scope: str = "") -> list[tuple[str, int]]:
        """The production history of a scope as a stack: a promotion pushes, a rollback pops."""
        joined = audit_table.join(versions_table, and_(
            _V.kind == _A.kind, _V.name == _A.name, _V.version == _A.version))
        rows = conn.execute(select(_A.action, _A.name, _A.version).select_from(joined).where(
            and_(_A.kind == kind, _V.scope == scope, _A.action.in_(("promote", "rollback")))).order_by(_A.id))
        stack: list[tuple[str, int]] = []
        for action, name, version in rows:
            if action == "rollback" and stack:
                stack.pop()
            if not stack or stack[-1] != (name, version):
                stack.append((name, version))
        return stack

    def _detector_content(self, manifest: DetectorManifest) -> str:
        path = check_weights(manifest, self.base_dir)
        name = manifest.name or path.stem
        version = manifest.version
        if version is None:
            stored = self.list("detector", name)
            same = next((v for v in stored if _same_detector(v, manifest)), None)
            if same is not None:  # the same manifest again: the same version
                return same.content
            version = max((v.version for v in stored), default=0) + 1
        full = manifest.model_copy(update={"name": name, "version": version, "sha256": manifest.sha256.lower()})
        return json.dumps(full.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"

    def _audit(self, conn: Connection, actor: str, action: str, kind: str, name: str, version: int,
               previous: ModelVersion | None, reason: str) -> None:
        conn.execute(insert(audit_table).values(
            ts=self.clock(), actor=actor, action=action, kind=kind, name=name, version=version,
            from_name=previous.name if previous else None, from_version=previous.version if previous else None,
            reason=reason))

    def _find(self, conn: Connection, kind: str, name: str, version: int) -> ModelVersion | None:
        row = conn.execute(select(versions_table).where(
            and_(_V.kind == kind, _V.name == name, _V.version == version))).first()
        return _version(row) if row is not None else None

    def _get(self, conn: Connection, kind: str, name: str, version: int) -> ModelVersion:
        found = self._find(conn, kind, name, version)
        if found is None:
            raise UnknownModel(f"no {kind} model {name}@{version}")
        return found

    def _production(self, conn: Connection, kind: str, scope: str = "") -> ModelVersion | None:
        row = conn.execute(select(versions_table).where(
            and_(_V.kind == kind, _V.scope == scope, _V.status == "production"))).first()
        return _version(row) if row is not None else None


def _same_detector(stored: ModelVersion, manifest: DetectorManifest) -> bool:
    other = DetectorManifest.model_validate_json(stored.content)
    return (other.weights_path, other.sha256.lower(), other.report, other.camera_id) == (
        manifest.weights_path, manifest.sha256.lower(), manifest.report, manifest.camera_id)


def _version(row: Any) -> ModelVersion:
    return ModelVersion.model_validate(dict(row._mapping))


def _required(value: str | None, what: str, limit: int = 100) -> str:
    value = (value or "").strip()
    if not value:
        raise ModelVersionError(f"the {what} is required")
    if len(value) > limit:
        raise ModelVersionError(f"the {what} is longer than {limit} characters")
    return value
