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


async def test_officers_at_two_instances_decide_each_held_message_once(tmp_path, inbox_factory, pg_url):
    """The watch list on PostgreSQL across two gateway processes: messages held at either instance are listed by
    both; a release and a refusal sent at once to the two instances for the same message: one decides (200), the
    other is told who did (409 not-held); a released message is delivered once, a refused one answered once."""
    from tests.controls.test_watchlist_flow import WATCHED_SPEC, inventory

    nsw_inbox, clearance_inbox = await inbox_factory(), await inbox_factory()
    watch = tmp_path / "watchlist"
    watch.mkdir()
    (watch / "samr.csv").write_text("id,brand,model,action\nSAMR-1,Brikko,BK-7701,hold\n")
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url=nsw_inbox.url, role="single-window", country="CN", sends=["inventory"],
                        receives=["receipt"]),
            PartnerSpec("cn-clearance", url=clearance_inbox.url, country="CN", sends=[], receives=["inventory"]),
        ],
        extra_toml=f'[controls]\nwatchlist_dir = "{watch}"\n',
        rules='[[routing.rules]]\ntypes = ["inventory"]\nreceivers = ["cn-clearance"]\n',
    )  # fmt: skip
    first = Supervised(deployment, workers=1, store__url=pg_url, gateway__instance="a")
    second = Supervised(deployment, workers=1, store__url=pg_url, gateway__instance="b")
    identity = deployment.partners["cn-nsw"]
    try:
        await first.start()
        await second.start()
        held = []
        for n in range(6):
            gateway = (first, second)[n % 2]
            body = signed(identity, inventory(WATCHED_SPEC))
            status, _, headers = await gateway.request("POST", "/v1/partners/cn-nsw/messages", data=body, token=False)
            assert (status, headers["X-Gateway-Outcome"]) == (202, "held")
            held.append(headers["X-Gateway-Message-Id"])
        status, body, _ = await second.request("GET", "/v1/admin/watchlist/holds?state=held")
        assert sorted(h["message_id"] for h in json.loads(body)["holds"]) == sorted(held)

        decided: dict[str, str] = {}
        for n, message_id in enumerate(held):
            answers = await asyncio.gather(
                first.request("POST", f"/v1/admin/watchlist/holds/{message_id}/release", json={}),
                second.request("POST", f"/v1/admin/watchlist/holds/{message_id}/refuse", json={"note": f"n{n}"}),
            )
            statuses = sorted(status for status, _, _ in answers)
            assert statuses == [200, 409], answers
            winner = next(json.loads(body) for status, body, _ in answers if status == 200)
            loser = next(json.loads(body) for status, body, _ in answers if status == 409)
            assert loser["error"] == "not-held"
            assert winner["state"] in loser["message"]
            decided[message_id] = winner["state"]
        released = [m for m, state in decided.items() if state == "released"]
        refused = [m for m, state in decided.items() if state == "refused"]
        await clearance_inbox.wait_for(len(released), timeout=30)
        await nsw_inbox.wait_for(len(refused), timeout=30)
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
        assert sorted(h["X-Gateway-Message-Id"] for h, _ in clearance_inbox.received) == sorted(released)
        assert len(nsw_inbox.received) == len(refused)
        print(f"decisions: {len(released)} released, {len(refused)} refused")
    finally:
        for gateway in (first, second):
            await gateway.terminate()
            gateway.close()
