"""Alembic migrations of the CRM store (a package so they install with it)."""
