"""Controls on PostgreSQL across gateway instances: two gateway processes on one database and one broker, the
lists of each purchase sent to both at once (interleaved): every inventory is released exactly once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from tests.controls.cbec import KINDS, CbecSet
from tests.controls.test_flow import CONTROLS, LISTS, ROUTES
from tests.helpers import PartnerSpec, make_deployment, signed
from tests.multiworker import Supervised
from tests.store.support import pg_schema

PURCHASES = 12


@pytest.fixture
def pg_url():
    with pg_schema() as url:
        yield url


async def test_interleaved_lists_at_two_instances_release_each_inventory_exactly_once(tmp_path, inbox_factory, pg_url):
    nsw_inbox, clearance_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec(
                "cn-nsw",
                url=nsw_inbox.url,
                role="single-window",
                country="CN",
                sends=LISTS,
                receives=["receipt", "risk-alert"],
            ),
            PartnerSpec("cn-clearance", url=clearance_inbox.url, country="CN", sends=[], receives=LISTS),
        ],
        extra_toml=CONTROLS,
        rules=ROUTES,
    )
    first = Supervised(deployment, workers=1, store__url=pg_url, gateway__instance="a")
    second = Supervised(deployment, workers=1, store__url=pg_url, gateway__instance="b")
    identity = deployment.partners["cn-nsw"]
    try:
        await first.start()
        await second.start()

        async def post(gateway: Supervised, body: bytes) -> tuple[int, str, str]:
            status, _, headers = await gateway.request("POST", "/v1/partners/cn-nsw/messages", data=body, token=False)
            return status, headers.get("X-Gateway-Outcome", ""), headers.get("X-Gateway-Message-Id", "")

        inventories: dict[str, str] = {}  # gateway id -> order id
        outcomes: Counter[str] = Counter()
        for n in range(PURCHASES):
            cbec = CbecSet()
            bodies = {kind: signed(identity, cbec.envelope(kind)) for kind in KINDS}
            # Alternate which instance takes which list; all four at once.
            targets = {kind: (first, second)[(n + i) % 2] for i, kind in enumerate(KINDS)}
            answers = await asyncio.gather(*(post(targets[kind], bodies[kind]) for kind in KINDS))
            for kind, (status, outcome, gateway_id) in zip(KINDS, answers, strict=True):
                assert status == 202, (kind, status, outcome)
                if kind == "inventory":
                    outcomes[outcome] += 1
                    inventories[gateway_id] = cbec.order_id
        # Every inventory reaches the clearance partner once, whichever instance took which list.
        await clearance_inbox.wait_for(PURCHASES * len(KINDS), timeout=60)
        arrived = Counter(
            headers["X-Gateway-Message-Id"]
            for headers, _ in clearance_inbox.received
            if headers["X-Message-Type"] == "inventory"
        )
        assert set(arrived) == set(inventories), (arrived, inventories)
        assert set(arrived.values()) == {1}, arrived
        # And each was accepted once: one "accepted" in its history, on whichever instance is asked.
        for gateway_id in inventories:
            status, body, _ = await second.request("GET", f"/v1/admin/messages/{gateway_id}")
            history = [e["status"] for e in json.loads(body)["history"]]
            assert history.count("accepted") == 1, history
        # Both ways happened: some inventories waited for a list, some found all three at once (interleaving).
        print(f"inventories: {dict(outcomes)}")
        assert outcomes["waiting"] + outcomes["accepted"] == PURCHASES
    finally:
        for gateway in (first, second):
            await gateway.terminate()
            gateway.close()
