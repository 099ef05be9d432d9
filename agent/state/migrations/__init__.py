"""Alembic migrations of the state store, applied by :func:`agent.state.migrate.upgrade` on open.

A package (with ``versions/`` one too) so setuptools ships them with ``agent``.
"""
