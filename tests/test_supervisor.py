"""``gateway run --workers N``: no worker outlives its supervisor, even after kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from tests.helpers import PartnerSpec, make_deployment
from tests.multiworker import Supervised, alive


async def test_kill9_of_the_supervisor_ends_its_workers(tmp_path):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/inbox")])
    gateway = Supervised(deployment, workers=2)
    try:
        await gateway.start()
        assert gateway.process is not None
        workers = list(gateway.worker_pids)
        assert len(workers) == 2
        assert all(alive(pid) for pid in workers)
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(timeout=30)
        # The kernel sends each worker SIGTERM (PR_SET_PDEATHSIG); each stops as on any SIGTERM. The deadline
        # only bounds the test: an orphan would run forever.
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:  # noqa: ASYNC110 (no event)
            await asyncio.sleep(0.1)
        orphans = [pid for pid in workers if alive(pid)]
        assert not orphans, f"workers {orphans} outlived their supervisor:\n{gateway.log()[-3000:]}"
        assert gateway.log().count("stopping: no new requests") == 2, gateway.log()[-3000:]
    finally:
        gateway.close()
