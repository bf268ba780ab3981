"""Consumer lag per partition from librdkafka statistics."""

import json

from bridge import metrics
from bridge.lag import LagRecorder, partition_lags


def _stats(partitions: dict[str, dict[str, object]], topic: str = "tasks") -> dict[str, object]:
    return {"name": "task-bridge#consumer-1", "topics": {topic: {"partitions": partitions}}}


def _gauge(partition: str) -> float | None:
    for metric in metrics.CONSUMER_LAG.collect():
        for sample in metric.samples:
            if sample.labels == {"partition": partition}:
                return sample.value
    return None


def test_partition_lags_skips_unknown_internal_and_stopped_partitions():
    stats = _stats(
        {
            "-1": {"consumer_lag": -1, "fetch_state": "none"},
            "0": {"consumer_lag": 12, "fetch_state": "active"},
            "1": {"consumer_lag": -1, "fetch_state": "active"},
            "2": {"consumer_lag": 0, "fetch_state": "active"},
            "3": {"consumer_lag": 40, "fetch_state": "stopped"},
        }
    )
    assert partition_lags(stats, "tasks") == {0: 12, 2: 0}
    assert partition_lags(stats, "other") == {}
    assert partition_lags({}, "tasks") == {}


def test_lag_recorder_sets_gauges_and_drops_partitions_it_gave_up():
    recorder = LagRecorder("tasks-lag-test")
    recorder(
        json.dumps(_stats({"30": {"consumer_lag": 5}, "31": {"consumer_lag": 7}}, "tasks-lag-test"))
    )
    assert (_gauge("30"), _gauge("31")) == (5, 7)
    recorder(json.dumps(_stats({"31": {"consumer_lag": 2}}, "tasks-lag-test")))
    assert _gauge("30") is None
    assert _gauge("31") == 2
    recorder("not json")
    assert _gauge("31") == 2
