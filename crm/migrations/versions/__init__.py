"""Alembic revisions of the CRM store."""
