"""Consumer lag per partition, read from librdkafka's statistics (`statistics.interval.ms`).

librdkafka already knows each assigned partition's high watermark and committed offset, so the
bridge asks the broker nothing extra; the callback runs inside `consume()` on the bridge thread.
"""

import json
import logging
from typing import Any

from bridge import metrics

log = logging.getLogger(__name__)

# Partitions the consumer has stopped fetching (revoked or paused for good) report stale lag.
INACTIVE_FETCH_STATES = frozenset({"none", "stopped"})


def partition_lags(stats: dict[str, Any], topic: str) -> dict[int, int]:
    """Lag of each partition of `topic` this consumer fetches; unknown lags are left out."""
    partitions = stats.get("topics", {}).get(topic, {}).get("partitions", {})
    lags: dict[int, int] = {}
    for key, part in partitions.items():
        partition = int(key)
        lag = part.get("consumer_lag", -1)
        # librdkafka lists an internal partition -1 and reports -1 while a lag is unknown.
        if partition < 0 or not isinstance(lag, int) or lag < 0:
            continue
        if part.get("fetch_state") in INACTIVE_FETCH_STATES:
            continue
        lags[partition] = lag
    return lags


class LagRecorder:
    """`stats_cb` of the bridge's consumer: sets the lag gauge of each fetched partition."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.reported: set[int] = set()

    def __call__(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
        except json.JSONDecodeError as err:
            log.warning("unreadable librdkafka statistics: %s", err)
            return
        lags = partition_lags(stats, self.topic)
        for partition, lag in lags.items():
            metrics.CONSUMER_LAG.labels(str(partition)).set(lag)
        # After a rebalance another bridge reports the partitions this one gave up.
        for gone in self.reported - lags.keys():
            metrics.CONSUMER_LAG.remove(str(gone))
        self.reported = set(lags)
