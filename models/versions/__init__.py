"""Model versions in the console's database: add, diff, promote, roll back — every change audited.

Two tables (SQLAlchemy Core; SQLite and PostgreSQL): ``model_versions`` holds each version's
text as it was added (YAML of a rule model, or a detector's JSON manifest) with its status,
author, reason and checksum; ``model_audit`` holds one row per change (actor, action, reason,
the version and the one it replaced). A change and its audit row are one transaction.

* Rule models (``warning``, ``trajectory``) are validated with their config classes; their
  ``name``/``version`` are the config's own. Detectors are a manifest
  (:class:`~zhizhi.models.versions.content.DetectorManifest`: ``weights_path``, ``sha256``,
  ``report``, optional ``name`` and ``version``) whose weights file must exist and match the checksum.
* Adding the same ``name@version`` twice is fine with the same content (the stored version is
  returned) and refused (:class:`ModelConflict`) with different content.
* **One production version per kind** (for all three kinds): the console runs one warning
  model over video, one set of trajectory rules, one detector. Promoting a version retires the
  one it replaces (status ``retired``); a partial unique index makes the database itself refuse
  two productions of a kind.
* **Camera-scoped detectors**: a detector manifest with a ``camera_id`` (a detector adapted to
  one camera's site, ``zhizhi adapt``) is stored with that camera as its ``scope``; production is
  one version per kind *and scope*, so a camera's own detector is promoted (and rolled back)
  beside the district-wide one, and the workers run it for that camera alone.
* :meth:`ModelStore.rollback` is an undo of promotions: it goes back to the version that was in
  production before the current one, reading the audit (a promotion pushes, a rollback pops),
  so repeated rollbacks walk further back.
* Listeners (:meth:`ModelStore.on_promoted`) hear every promotion and rollback after it is
  committed — the console publishes them on the bus (:data:`zhizhi.bus.Topic.MODELS`).

========================  ==============================================================
module                    job
========================  ==============================================================
``content.py``            kinds, the detector manifest, parsing, normalised YAML, checksums
``record.py``             :class:`ModelVersion`, :class:`AuditEntry`
``diff.py``               two versions compared (:class:`ModelDiff`, changed paths)
``errors.py``             what the store refuses
``store.py``              the tables ``model_versions``, ``model_audit`` and :class:`ModelStore`
``watch.py``              :class:`ModelWatch`: production changes made by other processes
========================  ==============================================================
"""
