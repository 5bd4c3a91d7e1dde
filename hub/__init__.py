"""Parley's shared vocabulary (models, settings, errors) and composition root (CLI)."""
