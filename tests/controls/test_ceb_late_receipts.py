"""A CEB single window whose inventory waited for its lists hears of the later rejection in CEB: the CEB622 of
that inventory (real app, broker and store; three-list matching on)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.ceb import CebAdapter
from gateway.mapping import ceb
from gateway.mapping.ceb import CEB_NS
from gateway.runtime import RUNTIME
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.helpers import PartnerSpec, make_deployment, signed

C = f"{{{CEB_NS}}}"
NS = {"c": CEB_NS}
LISTS = ["order", "payment", "logistics", "inventory"]
CONTROLS = "\n[controls]\nmatching = true\nmatching_window = 3600\nsweep_interval = 3600\n"
ROUTES = '[[routing.rules]]\ntypes = ["order", "payment", "logistics", "inventory"]\nreceivers = ["cn-clearance"]\n'


@pytest.fixture
async def setup(tmp_path, inbox_factory, amqp, aiohttp_client):
    nsw_inbox, clearance_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url=nsw_inbox.url, format="ceb", role="single-window", country="CN", sends=LISTS,
                        receives=["receipt"]),
            PartnerSpec("cn-clearance", url=clearance_inbox.url, country="CN", sends=[], receives=LISTS),
        ],
        extra_toml=CONTROLS,
        rules=ROUTES,
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client), nsw_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "cn-clearance"])


async def send(gateway: Gateway, message: etree._Element) -> tuple[int, str, str]:
    body = signed(gateway.deployment.partners["cn-nsw"], message)
    response = await gateway.client.post("/v1/partners/cn-nsw/messages", data=body)
    await response.read()
    return response.status, response.headers["X-Gateway-Outcome"], response.headers["X-Gateway-Message-Id"]


def late_ceb622(gateway: Gateway, body: bytes, inventory: etree._Element) -> dict[str, str]:
    """The delivered late receipt: signed by the gateway, a schema-valid CEB622 answering the inventory."""
    verified = XMLVerifier().verify(body, x509_cert=gateway.deployment.gateway.cert).signed_xml
    document = ceb_samples.carried(verified)  # a DxpMsg, strictly valid, around a strictly valid CEB622
    assert etree.QName(document).localname == "CEB622Message"
    CebAdapter().validate(document)
    (answer,) = document.findall(C + "InventoryReturn")
    returned = ceb.fields_of(answer)
    head = ceb.fields_of(inventory.find("c:Inventory/c:InventoryHead", NS))
    assert (returned["guid"], returned["copNo"]) == (head["guid"], head["copNo"])
    assert (returned["ebpCode"], returned["agentCode"]) == (head["ebpCode"], head["agentCode"])
    return returned


async def test_inventory_refused_after_its_list_came_gets_its_ceb622(setup):
    gateway, nsw_inbox = setup
    purchase = ceb_samples.Purchase()
    inventory = ceb_samples.inventory(purchase)
    status, outcome, inventory_id = await send(gateway, inventory)
    assert (status, outcome) == (202, "waiting")
    assert (await send(gateway, ceb_samples.order(purchase)))[:2] == (202, "accepted")
    assert (await send(gateway, ceb_samples.logistics(purchase)))[:2] == (202, "accepted")
    payment = ceb_samples.payment(purchase)
    payment.find("c:Payment/c:PaymentHead/c:amountPaid", NS).text = "1.00"  # not what the order says
    assert (await send(gateway, payment))[:2] == (202, "accepted")

    record = await gateway.wait_status(inventory_id, "rejected")
    assert record["code"] == "matching-failed"
    await nsw_inbox.wait_for(1)
    headers, body = nsw_inbox.received[0]
    assert headers["X-Message-Type"] == "receipt"
    returned = late_ceb622(gateway, body, inventory)
    assert returned["returnStatus"] == "-2999"
    assert "matching-failed" in returned["returnInfo"]
    assert "amount-paid" in returned["returnInfo"]


async def test_inventory_still_waiting_after_the_window_gets_its_ceb622(setup):
    gateway, nsw_inbox = setup
    purchase = ceb_samples.Purchase()
    inventory = ceb_samples.inventory(purchase)
    assert (await send(gateway, ceb_samples.order(purchase)))[:2] == (202, "accepted")
    status, outcome, inventory_id = await send(gateway, inventory)
    assert (status, outcome) == (202, "waiting")
    controls = gateway.client.server.app[RUNTIME].controls
    done = await controls.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601))
    assert done["expired"] == 1

    record = await gateway.wait_status(inventory_id, "rejected")
    assert record["code"] == "matching-incomplete"
    await nsw_inbox.wait_for(1)
    _headers, body = nsw_inbox.received[0]
    returned = late_ceb622(gateway, body, inventory)
    assert returned["returnStatus"] == "-2999"
    assert "matching-incomplete" in returned["returnInfo"]
