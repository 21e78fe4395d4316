"""What the dashboard's time to image is made of: a job's seconds from queued to posted, and
none for a job redriven from the dead-letter queue (its hours there were no slow render)."""

from __future__ import annotations

from dataclasses import replace

from bot.model.job import Job
from bot.model.prompt import ImageRequest
from bot.worker.timings import metrics, time_to_image


def test_time_to_image_is_counted_for_a_first_run_and_not_for_a_redriven_job() -> None:
    job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=ImageRequest("a kite"),
                  now=1_000.0)  # fmt: skip
    metrics.clear_metrics()
    try:
        assert time_to_image(replace(job, redrives=1), now=8_200.0) == 7_200.0
        assert "TimeToImage" not in metrics.metric_set
        assert time_to_image(job, now=1_012.5) == 12.5
        assert metrics.metric_set["TimeToImage"]["Value"] == [12.5]
    finally:
        metrics.clear_metrics()
