"""``python -m bench.propagation``: how fast an admin change reaches every worker of every instance.

Two instances of two workers each (one partners folder, store and broker; folder watching off, so only the
broker announcements carry changes). 100 changes (suspend / resume of one partner, alternately through each
instance); after each API answer, four reads on new connections (two per instance, any worker) must all show
the change. Prints the API answer time (it includes waiting for every peer to apply the change), the time
until the first read showing the change on the other instance, and the stale reads seen after an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.helpers import PartnerSpec, make_deployment
from tests.multiworker import Supervised


async def run(changes: int, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-propagation-") as folder:
        deployment = make_deployment(
            Path(folder),
            [
                PartnerSpec("nl-customs", url="http://127.0.0.1:9/x"),
                PartnerSpec("de-customs", url="http://127.0.0.1:9/x"),
            ],
        )
        instances = [
            Supervised(deployment, workers=workers, admin__watch_interval=0, gateway__instance=name)
            for name in ("a", "b")
        ]
        answer_ms: list[float] = []
        seen_ms: list[float] = []
        stale = 0
        try:
            for instance in instances:
                await instance.start()
            for n in range(changes):
                suspended = n % 2 == 0
                origin, other = instances[n % 2], instances[1 - n % 2]
                action = "suspend" if suspended else "resume"
                started = time.perf_counter()
                status, body, _ = await origin.request("POST", f"/v1/admin/partners/nl-customs/{action}")
                answered = time.perf_counter()
                assert status == 200, body
                answer_ms.append((answered - started) * 1000)
                first_seen = None
                for instance in (other, origin, other, origin):
                    _, body, _ = await instance.request("GET", "/v1/admin/partners/nl-customs")
                    if json.loads(body)["suspended"] == suspended:
                        if first_seen is None and instance is other:
                            first_seen = time.perf_counter()
                    else:
                        stale += 1
                while first_seen is None:  # only after a stale read on the other instance
                    _, body, _ = await other.request("GET", "/v1/admin/partners/nl-customs")
                    if json.loads(body)["suspended"] == suspended:
                        first_seen = time.perf_counter()
                seen_ms.append((first_seen - answered) * 1000)
        finally:
            for instance in instances:
                await instance.terminate()
                instance.close()
    return {
        "changes": changes,
        "answer_ms_median": statistics.median(answer_ms),
        "answer_ms_worst": max(answer_ms),
        "seen_on_other_instance_ms_median": statistics.median(seen_ms),
        "seen_on_other_instance_ms_worst": max(seen_ms),
        "stale_reads_after_answer": stale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.propagation", description=__doc__)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="workers per instance")
    args = parser.parse_args()
    result = asyncio.run(run(args.changes, args.workers))
    for key, value in result.items():
        print(f"{key:36} {value:10.1f}" if isinstance(value, float) else f"{key:36} {value:10}")


if __name__ == "__main__":
    main()
