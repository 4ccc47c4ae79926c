"""300 uploads within a minute to one data source -> at most 2 ingestion jobs, every upload covered.

The local cloud takes ~50-100 ms of real time per upload (S3 -> EventBridge -> the router Lambda, in process), so
the burst runs with time slowed to 1 virtual s = 0.5 real s (300 uploads within ~30-60 virtual s), then time runs
fast again (1 virtual s = 10 ms) for the syncs that follow.
"""

from __future__ import annotations

import pytest
from kbsync_localcloud.bench.triggers import TriggerRig, job_durations

pytestmark = pytest.mark.e2e

UPLOADS = 300
BURST_SCALE = 0.5
FAST_SCALE = 0.01


def test_300_uploads_within_a_minute_cost_at_most_two_jobs_and_every_upload_is_covered() -> None:
    from kbsync_localcloud.clock import CLOCK
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=FAST_SCALE):
        rig = TriggerRig.deploy({"SettleSeconds": "20"})
        [target] = rig.seed_targets(1, prefix_root="burst")
        s3, prefix = rig.clients["s3"], target.inclusion_prefixes[0]
        uploaded_at = []
        with job_durations({target.data_source_id: 20}):
            CLOCK.set_scale(BURST_SCALE)
            try:
                for i in range(UPLOADS):
                    s3.put_object(Bucket=target.bucket_name, Key=f"{prefix}doc-{i}.txt", Body=b"x")
                    uploaded_at.append(CLOCK.now())
            finally:
                CLOCK.set_scale(FAST_SCALE)
            span = uploaded_at[-1] - uploaded_at[0]
            assert span <= 60, f"precondition: the burst took {span:.0f} virtual s (machine too slow for this test)"
            rig.wait_until_quiet(120)
        jobs = rig.jobs(target)
        assert 1 <= len(jobs) <= 2, [j["status"] for j in jobs]
        assert {j["status"] for j in jobs} == {"COMPLETE"}
        starts = [CLOCK.virtual(j["startedAt"].timestamp()) for j in jobs]  # dates -> virtual instants
        uncovered = [at for at in uploaded_at if not any(start > at for start in starts)]
        assert uncovered == [], f"{len(uncovered)} uploads not covered by a job started after them"
        assert rig.targets_table.get_item(Key={"pk": target.pk, "sk": "GATE"}).get("Item") is None
        assert rig.drain_alerts() == []
