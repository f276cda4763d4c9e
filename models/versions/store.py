"""Model versions in the console's database: add, diff, promote, roll back — every change audited.

Two tables (SQLAlchemy Core; SQLite and PostgreSQL): ``model_versions`` holds each version's
text as it was added (YAML of a rule model, or a detector's JSON manifest) with its status,
author, reason and checksum; ``model_audit`` holds one row per change (actor, action, reason,
the version and the one it replaced). A change and its audit row are one transaction.

* Rule models (``warning``, ``trajectory``) are validated with their config classes; their
  ``name``/``version`` are the config's own. Detectors are a manifest
  (:class:`DetectorManifest`: ``weights_path``, ``sha256``, ``report``, optional ``name`` and
  ``version``) whose weights file must exist and match the checksum.
* Adding the same ``name@version`` twice is fine with the same content (the stored version is
  returned) and refused (:class:`ModelConflict`) with different content.
* **One production version per kind** (for all three kinds): the console runs one warning
  model over video, one set of trajectory rules, one detector. Promoting a version retires the
  one it replaces (status ``retired``); a partial unique index makes the database itself refuse
  two productions of a kind.
* :meth:`ModelStore.rollback` is an undo of promotions: it goes back to the version that was in
  production before the current one, reading the audit (a promotion pushes, a rollback pops),
  so repeated rollbacks walk further back.
* Listeners (:meth:`ModelStore.on_promoted`) hear every promotion and rollback after it is
  committed — the console publishes them on the bus (:data:`zhizhi.bus.Topic.MODELS`).

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
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
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
from zhizhi.models.config_file import ModelConfigError, Strict, VersionedRules, parse_config

log = logging.getLogger(__name__)

Kind = Literal["warning", "trajectory", "detector"]
Status = Literal["draft", "production", "retired"]
Action = Literal["add", "promote", "rollback", "retire"]
KINDS: tuple[str, ...] = get_args(Kind)
RULE_KINDS = ("warning", "trajectory")
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"

metadata = MetaData()

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
    UniqueConstraint("kind", "name", "version", name="ux_model_versions_kind_name_version"),
)
# At most one production version per kind: the database itself refuses a second one.
Index(
    "ux_model_versions_production",
    versions_table.c.kind,
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


# --- errors ------------------------------------------------------------------------------------


class ModelVersionError(ValueError):
    """A change to the model store that cannot be made (the message says why)."""


class UnknownModel(ModelVersionError, LookupError):
    """No such kind, model or version."""


class ModelConflict(ModelVersionError):
    """The change contradicts what is stored (a different text under the same version, a
    promotion of the version already in production, nothing to roll back to)."""


# --- records -----------------------------------------------------------------------------------


class DetectorManifest(Strict):
    """A detector version: its weights file, their SHA-256 and the evaluation report."""

    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME_PATTERN,
                             description="Default: the weights file's stem.")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="Default: the next free version of the name.")
    weights_path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    report: dict[str, Any] | str | None = Field(None, description="Evaluation report (metrics) or its path.")


class ModelVersion(BaseModel):
    """One stored version of a model."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: Kind
    name: str
    version: int
    content: str
    status: Status
    author: str
    reason: str
    created_ts: float
    checksum: str

    @property
    def label(self) -> str:
        """``name@version``, as alerts carry it."""
        return f"{self.name}@{self.version}"

    def config(self) -> VersionedRules | DetectorManifest:
        """The parsed, validated content (a rule model's config class, or the manifest)."""
        return parse_content(self.kind, self.content, self.label)

    def message(self, action: str = "promote") -> dict[str, Any]:
        """The bus message of this version going into production."""
        return {"type": "model_promoted", "kind": self.kind, "name": self.name, "version": self.version,
                "content": self.content, "action": action}


class AuditEntry(BaseModel):
    """One change of the model store."""

    model_config = ConfigDict(frozen=True)

    id: int
    ts: float
    actor: str
    action: Action
    kind: Kind
    name: str
    version: int
    from_name: str | None = None
    from_version: int | None = None
    reason: str


class Change(BaseModel):
    """One changed path of a diff; ``old``/``new`` are ``None`` with ``added``/``removed``."""

    path: str
    old: Any = None
    new: Any = None
    added: bool = False
    removed: bool = False

    def __str__(self) -> str:
        old = "(absent)" if self.added else _show(self.old)
        new = "(absent)" if self.removed else _show(self.new)
        return f"{self.path}: {old} -> {new}"


class ModelDiff(BaseModel):
    """Two versions compared: a unified diff of their normalised YAML and the changed paths."""

    kind: Kind
    name: str
    a: int
    b: int
    unified: str
    changes: list[Change]

    def __str__(self) -> str:
        lines = [str(c) for c in self.changes] or ["(no changes)"]
        return self.unified + ("\n" if self.unified and not self.unified.endswith("\n") else "") + "\n".join(lines)


# --- content -----------------------------------------------------------------------------------


def config_class(kind: str) -> type[VersionedRules]:
    """The config class of a rule-model kind."""
    if kind == "warning":
        from zhizhi.models.warning.config import WarningModelConfig

        return WarningModelConfig
    if kind == "trajectory":
        from zhizhi.models.trajectory.config import TrajectoryModelConfig

        return TrajectoryModelConfig
    raise UnknownModel(f"{kind!r} is not a rule-model kind; use one of {list(RULE_KINDS)}")


def check_kind(kind: str) -> Kind:
    """``kind`` if known; :class:`UnknownModel` naming the kinds otherwise."""
    if kind not in KINDS:
        raise UnknownModel(f"unknown model kind {kind!r}; use one of {list(KINDS)}")
    return kind  # type: ignore[return-value]


def _load_text(content: str, source: str) -> object:
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ModelConfigError(source, [("", f"not valid YAML: {exc}")]) from None


def parse_content(kind: str, content: str, source: str = "<content>") -> VersionedRules | DetectorManifest:
    """Validate a version's text; :class:`ModelConfigError` lists every bad path."""
    data = _load_text(content, source)
    if check_kind(kind) == "detector":
        if not isinstance(data, dict):
            raise ModelConfigError(source, [("", "expected a JSON object with weights_path, sha256 and report")])
        try:
            return DetectorManifest.model_validate(data)
        except ValidationError as exc:
            errors = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise ModelConfigError(source, errors) from None
    return parse_config(config_class(kind), data, source)


def normalised(kind: str, content: str) -> dict[str, Any]:
    """The content as validated, every default filled in (what actually runs)."""
    return parse_content(kind, content).model_dump(mode="json")


def normalised_yaml(kind: str, content: str) -> str:
    """:func:`normalised` as YAML, in field order with each rule's ``kind`` after its ``id``
    (the text diffs compare)."""
    data = normalised(kind, content)
    if isinstance(data.get("rules"), list):
        data["rules"] = [_id_kind_first(r) for r in data["rules"]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _id_kind_first(rule: dict[str, Any]) -> dict[str, Any]:
    head = {k: rule[k] for k in ("id", "kind") if k in rule}
    return head | {k: v for k, v in rule.items() if k not in head}


def checksum(content: str) -> str:
    """SHA-256 of the stored text."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file, read in chunks (weights, clips: the one helper for every file hash)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights(manifest: DetectorManifest, base_dir: Path | None = None, source: str = "<manifest>") -> Path:
    """The manifest's weights file, which must exist and match ``sha256``."""
    path = Path(manifest.weights_path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ModelConfigError(source, [("weights_path", f"file not found: {path}")])
    actual = file_sha256(path)
    if actual != manifest.sha256.lower():
        raise ModelConfigError(source, [("sha256", f"does not match the weights file ({actual})")])
    return path


def diff_changes(a: Any, b: Any, path: str = "") -> list[Change]:
    """The changed paths between two normalised documents.

    Lists of objects with ``id`` (rules) are matched by id (``rules.hazmat-stop.min_duration_s``),
    other lists of objects by position, lists of plain values compared whole.
    """
    if isinstance(a, list) and isinstance(b, list) and (a or b) and _objects(a) and _objects(b):
        keyed_a, keyed_b = _by_id(a), _by_id(b)
        if keyed_a is not None and keyed_b is not None:
            return diff_changes(keyed_a, keyed_b, path)
        return diff_changes(dict(enumerate(a)), dict(enumerate(b)), path)
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Change] = []
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(Change(path=sub, old=a[key], removed=True))
            elif key not in a:
                out.append(Change(path=sub, new=b[key], added=True))
            else:
                out.extend(diff_changes(a[key], b[key], sub))
        return out
    return [] if a == b else [Change(path=path, old=a, new=b)]


def _objects(items: list) -> bool:
    return all(isinstance(x, dict) for x in items)


def _by_id(items: list) -> dict[str, Any] | None:
    if not all("id" in x for x in items):
        return None
    keyed = {str(x["id"]): x for x in items}
    return keyed if len(keyed) == len(items) else None


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


# --- the store ---------------------------------------------------------------------------------

Listener = Callable[[ModelVersion, str], object]


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

    def list(self, kind: str | None = None, name: str | None = None) -> list[ModelVersion]:
        """Versions by kind, name and version."""
        query = select(versions_table).order_by(_V.kind, _V.name, _V.version)
        if kind is not None:
            query = query.where(_V.kind == check_kind(kind))
        if name is not None:
            query = query.where(_V.name == name)
        with self.engine.connect() as conn:
            return [_version(r) for r in conn.execute(query)]

    def production(self, kind: str, name: str | None = None) -> ModelVersion | None:
        """The production version of ``kind`` (of that ``name``, if given), or ``None``."""
        with self.engine.connect() as conn:
            found = self._production(conn, check_kind(kind))
        return found if found is not None and (name is None or found.name == name) else None

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
        if isinstance(parsed, DetectorManifest):
            content = self._detector_content(parsed)
            parsed = DetectorManifest.model_validate_json(content)
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
                   "author": author, "reason": reason, "created_ts": self.clock(), "checksum": digest}
            new_id = conn.execute(insert(versions_table).values(row)).inserted_primary_key[0]
            self._audit(conn, author, "add", kind, name, version, None, reason)
        log.info("%s model %s@%d added by %s: %s", kind, name, version, author, reason)
        return ModelVersion(id=new_id, **row)

    def promote(self, kind: str, name: str, version: int, actor: str, reason: str) -> ModelVersion:
        """Put a version into production (the kind's current one is retired)."""
        return self._switch(check_kind(kind), name, version, _required(actor, "actor"),
                            _required(reason, "reason", 2000), "promote")

    def rollback(self, kind: str, actor: str, reason: str) -> ModelVersion:
        """Back to the version in production before the current one (from the audit)."""
        kind, actor, reason = check_kind(kind), _required(actor, "actor"), _required(reason, "reason", 2000)
        with self._lock:
            with self.engine.connect() as conn:
                stack = self._promotions(conn, kind)
            if len(stack) < 2:
                raise ModelConflict(f"no earlier {kind} production version to roll back to")
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

    def seed(self, kind: str, content: str, actor: str = "system", reason: str = "shipped model") -> ModelVersion | None:
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
                    current = self._production(conn, kind)
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

    def _promotions(self, conn: Connection, kind: str) -> list[tuple[str, int]]:
        """The production history as a stack: a promotion pushes, a rollback pops."""
        rows = conn.execute(select(_A.action, _A.name, _A.version).where(
            and_(_A.kind == kind, _A.action.in_(("promote", "rollback")))).order_by(_A.id))
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

    def _production(self, conn: Connection, kind: str) -> ModelVersion | None:
        row = conn.execute(select(versions_table).where(
            and_(_V.kind == kind, _V.status == "production"))).first()
        return _version(row) if row is not None else None


class ModelWatch:
    """Notices production changes another process made (``zhizhi models promote``) by polling.

    Every ``interval_s`` it reads each kind's production version; one that differs from the last
    seen is handed to ``on_change(version, "promote")``. Changes made through this process's
    store are noted as they happen (:meth:`ModelStore.on_promoted`), so they are not reported
    twice.
    """

    def __init__(self, store: ModelStore, on_change: Listener, *, interval_s: float = 5.0) -> None:
        self.store = store
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen = {kind: self._label(store.production(kind)) for kind in KINDS}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        store.on_promoted(lambda version, _action: self._note(version))

    @staticmethod
    def _label(version: ModelVersion | None) -> str | None:
        return None if version is None else f"{version.label}:{version.checksum}"

    def _note(self, version: ModelVersion) -> None:
        with self._lock:
            self._seen[version.kind] = self._label(version)

    def check(self) -> list[ModelVersion]:
        """Report the kinds whose production changed since last seen; those versions.

        A change made through this process's store between the read and the report (a rollback
        at the console) was announced before this one: production is read once more after the
        report, and what is in production then is announced last, so the runners end on it.
        """
        changed = []
        for kind in KINDS:
            current = self.store.production(kind)
            with self._lock:
                if current is None or self._seen.get(kind) == self._label(current):
                    continue
                self._seen[kind] = self._label(current)
            changed.append(current)
            log.info("%s model %s went into production elsewhere", kind, current.label)
            self._report(current)
            latest = self.store.production(kind)
            if latest is not None and self._label(latest) != self._label(current):
                with self._lock:
                    self._seen[kind] = self._label(latest)
                log.info("%s model %s went into production meanwhile; announced again", kind, latest.label)
                self._report(latest)
        return changed

    def _report(self, version: ModelVersion) -> None:
        try:
            self.on_change(version, "promote")
        except Exception:
            log.exception("applying %s model %s failed", version.kind, version.label)

    def start(self) -> ModelWatch:
        """Poll in a daemon thread until :meth:`stop`."""
        if self._thread is None and self.interval_s > 0:
            self._thread = threading.Thread(target=self._loop, name="model-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.warning("reading the model store failed; trying again in %.0f s", self.interval_s, exc_info=True)


def _same_detector(stored: ModelVersion, manifest: DetectorManifest) -> bool:
    other = DetectorManifest.model_validate_json(stored.content)
    return (other.weights_path, other.sha256.lower(), other.report) == (
        manifest.weights_path, manifest.sha256.lower(), manifest.report)


def _version(row: Any) -> ModelVersion:
    return ModelVersion.model_validate(dict(row._mapping))


def _required(value: str | None, what: str, limit: int = 100) -> str:
    value = (value or "").strip()
    if not value:
        raise ModelVersionError(f"the {what} is required")
    if len(value) > limit:
        raise ModelVersionError(f"the {what} is longer than {limit} characters")
    return value


__all__ = [
    "KINDS",
    "AuditEntry",
    "Change",
    "DetectorManifest",
    "ModelConfigError",
    "ModelConflict",
    "ModelDiff",
    "ModelStore",
    "ModelVersion",
    "ModelVersionError",
    "ModelWatch",
    "UnknownModel",
    "check_weights",
    "config_class",
    "diff_changes",
    "normalised",
    "normalised_yaml",
    "parse_content",
]
