"""Tests that pin kbsync's promises, written against the survivors of `make mutate`."""
