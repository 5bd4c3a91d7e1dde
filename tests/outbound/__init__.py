"""Tests of outbound/: signed webhooks against real local receivers."""
