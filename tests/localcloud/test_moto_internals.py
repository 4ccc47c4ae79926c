"""Every adapter still matches the pinned moto internals it patches; a mismatch fails with a clear message."""

from __future__ import annotations

import importlib

import pytest
from kbsync_localcloud.adapters import ADAPTER_MODULES, MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, source_fingerprint


@pytest.mark.parametrize("module_name", ADAPTER_MODULES)
def test_adapter_matches_pinned_moto(module_name: str) -> None:
    importlib.import_module(module_name).verify_moto_internals()


@pytest.mark.parametrize("module_name", ADAPTER_MODULES)
def test_adapter_still_matches_after_install(module_name: str) -> None:
    module = importlib.import_module(module_name)
    module.install()
    module.install()  # idempotent
    module.verify_moto_internals()


def test_a_changed_moto_function_is_reported_by_name() -> None:
    def moto_function() -> None:
        return None

    with pytest.raises(MotoInternalsChanged, match=r"demo: moto's source changed for Fake\.fn \(expected 0+, found"):
        check_fingerprints("demo", {"Fake.fn": moto_function}, {"Fake.fn": "0" * 16})
    check_fingerprints("demo", {"Fake.fn": moto_function}, {"Fake.fn": source_fingerprint(moto_function)})
