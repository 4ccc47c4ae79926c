"""Shared test helpers for the workflow, end-to-end and static tests (no product code lives here)."""
