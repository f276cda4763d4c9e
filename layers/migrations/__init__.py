"""Alembic migrations of every store's tables: one set for SQLite and PostgreSQL/PostGIS.

Applied by :func:`layers.db.migrate`; ``env.py`` and ``versions/`` are the Alembic scripts.
"""
