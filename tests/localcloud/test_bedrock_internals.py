"""The bedrock_ingestion adapter's guard against moto internals changing under it."""

from __future__ import annotations

import moto.bedrockagent.urls as urls
import pytest
from kbsync_localcloud.adapters import MotoInternalsChanged, bedrock_ingestion


def test_pinned_moto_matches_what_the_adapter_relies_on() -> None:
    bedrock_ingestion.verify_moto_internals()


def test_install_is_idempotent() -> None:
    bedrock_ingestion.install()
    bedrock_ingestion.install()
    control_routes = [path for path in urls.url_paths if "kbsync-local" in path]
    assert control_routes == ["{0}/kbsync-local/bedrock/faults$"]
    assert next(iter(urls.url_paths)) == control_routes[0]  # first: decorator mode takes the first match


def test_a_changed_internal_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(urls.url_paths, "{0}/.*$")
    with pytest.raises(MotoInternalsChanged, match=r"bedrock_ingestion adapter: .*catch-all"):
        bedrock_ingestion.verify_moto_internals()
