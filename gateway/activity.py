"""Traffic over a recent window, for the console's charts: messages received per sender and deliveries per
receiver with their latency (receipt at ingress to delivery), in buckets of one minute (by default).

Read from the store, so it covers every worker and instance sharing it and survives restarts; the live
counters of ``/metrics`` count since the process started instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.store.base import Activity, ActivityRow, Store

MAX_MINUTES = 24 * 60


def _window(now: dt.datetime, minutes: int, bucket_seconds: int) -> tuple[dt.datetime, int]:
    """The window's start, aligned on a bucket boundary so that buckets stay put between refreshes."""
    end = now.timestamp()
    aligned_end = (int(end) // bucket_seconds + 1) * bucket_seconds
    buckets = max(1, minutes * 60 // bucket_seconds)
    return dt.datetime.fromtimestamp(aligned_end - buckets * bucket_seconds, dt.UTC), buckets


def _counts(rows: tuple[ActivityRow, ...], buckets: int) -> dict[str, list[ActivityRow | None]]:
    by_partner: dict[str, list[ActivityRow | None]] = {}
    for row in rows:
        if 0 <= row.bucket < buckets:
            by_partner.setdefault(row.partner, [None] * buckets)[row.bucket] = row
    return dict(sorted(by_partner.items()))


def series(activity: Activity, since: dt.datetime, buckets: int, bucket_seconds: int) -> dict[str, Any]:
    """The JSON answer of ``GET /v1/admin/traffic/history``: one array per partner, one value per bucket
    (oldest first); latency is ``null`` where nothing was delivered in a bucket."""
    received = _counts(activity.received, buckets)
    delivered = _counts(activity.delivered, buckets)
    return {
        "since": since.isoformat(),
        "until": (since + dt.timedelta(seconds=buckets * bucket_seconds)).isoformat(),
        "bucket_seconds": bucket_seconds,
        "buckets": buckets,
        "received": [
            {
                "partner": partner,
                "counts": [r.count if r else 0 for r in rows],
                "total": sum(r.count for r in rows if r),
            }
            for partner, rows in received.items()
        ],
        "delivered": [
            {
                "partner": partner,
                "counts": [r.count if r else 0 for r in rows],
                "total": sum(r.count for r in rows if r),
                "latency_avg": [round(r.seconds_total / r.count, 4) if r and r.count else None for r in rows],
                "latency_max": [round(r.seconds_max, 4) if r else None for r in rows],
            }
            for partner, rows in delivered.items()
        ],
    }


async def history(
    store: Store, *, minutes: int = 60, bucket_seconds: int = 60, now: dt.datetime | None = None
) -> dict[str, Any]:
    since, buckets = _window(now or dt.datetime.now(dt.UTC), minutes, bucket_seconds)
    return series(await store.activity(since, bucket_seconds), since, buckets, bucket_seconds)
