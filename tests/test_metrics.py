"""``/metrics`` of ``gateway run --workers 2``: one coherent exposition of the whole instance, whichever worker
answers the scrape (issue 13: a counter read 3, 3, 3, 7, 3 over successive scrapes, which Prometheus takes for
resets)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import PartnerSpec, envelope, make_deployment, signed
from tests.multiworker import Supervised

SCRAPES = 20
MONOTONIC = ("counter", "histogram")


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, float]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): (family.type, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def post(gateway: Supervised, partner: str, body: bytes) -> int:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.post(
            f"{gateway.url}/v1/partners/{partner}/messages",
            data=body,
            headers={"Content-Type": "application/xml"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response,
    ):
        await response.read()
        return response.status


async def test_two_workers_scraped_20_times_no_value_goes_backwards(tmp_path, inbox_factory):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url=inbox.url), PartnerSpec("de-customs", url=inbox.url)],
        extra_toml="",
    )
    gateway = Supervised(deployment, workers=2, gateway__instance="gw-a")
    identity = deployment.partners["nl-customs"]
    try:
        await gateway.start()
        scrapes = []
        statuses = []
        for n in range(SCRAPES):
            # Traffic between scrapes, each request on a new connection (either worker may take it).
            statuses.append(await post(gateway, "nl-customs", signed(identity, envelope("nl-customs", "de-customs"))))
            statuses.append(await post(gateway, "nl-customs", b"<not-xml"))
            statuses.append(await post(gateway, "xx-nobody", b"<x/>"))
            status, body = await gateway.get("/metrics")
            assert status == 200, (n, body[:500])
            scrapes.append(parse(body.decode()))
        assert statuses.count(202) == SCRAPES, statuses
        went_back = []
        for n in range(1, SCRAPES):
            for key, (kind, value) in scrapes[n - 1].items():
                if kind in MONOTONIC and not key[0].endswith("_created"):
                    later = scrapes[n].get(key)
                    if later is None or later[1] < value:
                        went_back.append((n, key, value, later))
        assert not went_back, went_back[:10]
        # And they add up: the last scrape counts every request of both workers.
        last = scrapes[-1]
        ingress: dict[str, float] = {}
        for (name, labels), (_, value) in last.items():
            if name == "gateway_ingress_messages_total":
                outcome = dict(labels)["outcome"]
                ingress[outcome] = ingress.get(outcome, 0) + value
        assert ingress == {"accepted": SCRAPES, "malformed-xml": SCRAPES, "unknown-partner": SCRAPES}, ingress
        # Every series names the instance.
        assert {dict(labels).get("instance") for _, labels in last} == {"gw-a"}
    finally:
        await gateway.terminate()
        gateway.close()
