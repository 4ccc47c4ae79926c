"""Mutation testing of kbsync (``make mutate``): tooling only, never imported by the product or by tests.

- ``asl``: our own mutator of Amazon States Language (JSON transforms over every ``statemachines/*.asl.json``,
  states nested in Map and Parallel included);
- ``python``: Python mutants, cosmic-ray's operators (pinned in ``requirements/mutate.txt``) plus two of ours for
  what cosmic-ray does not mutate (string keys, dictionary entries);
- ``plan``: what is mutated and which test files can catch a mutant of each file;
- ``runner``: runs every mutant against its test files in throw-away copies of the work tree, two at a time.

See docs/testing.md.
"""
