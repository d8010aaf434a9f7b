"""Three-list matching in the real flow (app, broker, store): every arrival order, restarts, the deadline."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.runtime import RUNTIME
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.controls.cbec import KINDS, CbecSet
from tests.helpers import PartnerSpec, make_deployment, signed

W = "{urn:customs-gateway:wco:1}"
E = "{urn:customs-gateway:envelope:1}"
LISTS = ["order", "payment", "logistics", "inventory"]
CONTROLS = """
[controls]
matching = true
matching_window = 3600
sweep_interval = 3600
"""
ROUTES = """
[[routing.rules]]
types = ["order", "payment", "logistics", "inventory"]
receivers = ["cn-clearance"]
"""


@pytest.fixture
async def setup(tmp_path, inbox_factory, amqp, aiohttp_client):
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
    clients = []

    async def start() -> Gateway:
        client = await aiohttp_client(build_app(deployment.settings()))
        clients.append(client)
        return Gateway(deployment, client)

    yield deployment, start, nsw_inbox, clearance_inbox
    for client in clients:
        await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "cn-clearance"])


async def send(gateway: Gateway, envelope: etree._Element | bytes) -> tuple[int, str, str, bytes]:
    """POST an envelope signed as cn-nsw (or bytes already signed)."""
    body = envelope if isinstance(envelope, bytes) else signed(gateway.deployment.partners["cn-nsw"], envelope)
    response = await gateway.client.post(
        "/v1/partners/cn-nsw/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    return (
        response.status,
        response.headers["X-Gateway-Outcome"],
        response.headers["X-Gateway-Message-Id"],
        await response.read(),
    )


def receipt_errors(receipt: bytes, gateway) -> list[tuple[str, str]]:
    verified = XMLVerifier().verify(receipt, x509_cert=gateway.deployment.gateway.cert).signed_xml
    return [
        (e.findtext(f"{W}ValidationCode"), e.findtext(f"{W}Description"))
        for e in verified.iterfind(f"{E}Body/{W}Receipt/{W}Error")
    ]


def delivered_types(inbox) -> list[str]:
    return [headers["X-Message-Type"] for headers, _ in inbox.received]


async def test_a_consistent_set_proceeds_in_every_arrival_order(setup):
    _deployment, start, nsw_inbox, clearance_inbox = setup
    gateway = await start()
    inventories = []
    for order in itertools.permutations(KINDS):
        cbec = CbecSet()
        for position, kind in enumerate(order):
            status, outcome, gateway_id, _ = await send(gateway, cbec.envelope(kind))
            if kind == "inventory":
                expected = "accepted" if position == 3 else "waiting"
                assert (status, outcome) == (202, expected), order
                inventories.append(gateway_id)
            else:
                assert (status, outcome) == (202, "accepted"), order
    for gateway_id in inventories:
        record = await gateway.wait_status(gateway_id, "delivered")
        statuses = [e["status"] for e in record["history"]]
        # The worker may record "delivering" and "delivered" before the release (or ingress) records
        # "accepted": all three follow the publish.
        assert statuses[0] == "received"
        assert sorted(s for s in statuses if s != "waiting") == [
            "accepted",
            "delivered",
            "delivering",
            "received",
        ]
        assert statuses.count("waiting") <= 1
        assert "waiting" not in statuses or statuses.index("waiting") == 1
    await clearance_inbox.wait_for(24 * 4)
    assert sorted(delivered_types(clearance_inbox)) == sorted(LISTS * 24)
    assert gateway.runtime.controls.store.count_waiting() == 0
    assert nsw_inbox.received == []  # no rejection receipts


async def test_an_inconsistent_set_is_rejected_naming_the_rule_in_every_arrival_order(setup):
    deployment, start, nsw_inbox, clearance_inbox = setup
    gateway = await start()
    waited = 0
    rejected_now = 0
    for order in itertools.permutations(KINDS):
        cbec = CbecSet(tweaks={"payment": [(".//w:PaymentAmount", "556.0")]})
        inventory_id = None
        for kind in order:
            status, outcome, gateway_id, receipt = await send(gateway, cbec.envelope(kind))
            if kind != "inventory":
                assert (status, outcome) == (202, "accepted")
                continue
            inventory_id = gateway_id
            if (status, outcome) == (422, "matching-failed"):
                rejected_now += 1
                errors = receipt_errors(receipt, gateway)
                assert [code for code, _ in errors] == ["matching-failed"]
                assert "amount-paid" in errors[0][1]
                assert "556 CNY" in errors[0][1]
                assert "557 CNY" in errors[0][1]
            else:
                assert (status, outcome) == (202, "waiting"), order
                waited += 1
        assert inventory_id is not None
        record = await gateway.wait_status(inventory_id, "rejected")
        assert record["code"] == "matching-failed"
        assert "amount-paid" in record["reason"]
    # The inventory is rejected at once when the order and payment came before it, else when they arrive.
    assert rejected_now == sum(
        1 for o in itertools.permutations(KINDS) if o.index("inventory") > max(o.index("order"), o.index("payment"))
    )
    await nsw_inbox.wait_for(waited)
    for headers, body in nsw_inbox.received:
        assert headers["X-Message-Type"] == "receipt"
        answer = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
        assert answer.findtext(f"{E}Body/{W}Receipt/{W}FunctionCode") == "rejected"
        assert "amount-paid" in answer.findtext(f"{E}Body/{W}Receipt/{W}Error/{W}Description")
    assert "inventory" not in delivered_types(clearance_inbox)


async def test_every_failed_rule_is_named_in_the_rejection_receipt(setup):
    _, start, _, _ = setup
    gateway = await start()
    cbec = CbecSet(
        tweaks={
            "payment": [(".//w:PaymentAmount", "1"), (".//w:Payer/w:IdentityDocument/w:ID", "X1")],
            "logistics": [(".//w:FreightChargeAmount", "20")],
        }
    )
    for kind in ("order", "payment", "logistics"):
        await send(gateway, cbec.envelope(kind))
    status, outcome, _, receipt = await send(gateway, cbec.envelope("inventory"))
    assert (status, outcome) == (422, "matching-failed")
    rules = {description.split(":")[0] for _, description in receipt_errors(receipt, gateway)}
    assert rules == {"amount-paid", "buyer", "freight"}


async def test_waiting_state_survives_restarts_between_the_lists(setup):
    _deployment, start, _, clearance_inbox = setup
    cbec = CbecSet()
    gateway = await start()
    assert (await send(gateway, cbec.envelope("payment")))[1] == "accepted"
    await gateway.client.close()

    gateway = await start()  # restart: the payment is remembered
    inventory = signed(gateway.deployment.partners["cn-nsw"], cbec.envelope("inventory", message_id="INV-R1"))
    status, outcome, inventory_id, first_receipt = await send(gateway, inventory)
    assert (status, outcome) == (202, "waiting")
    record = await gateway.wait_status(inventory_id, "waiting")
    assert "order" in record["reason"]
    assert "waybill" in record["reason"]
    await gateway.client.close()

    gateway = await start()  # restart: the waiting inventory is remembered
    duplicate = await send(gateway, inventory)  # the same message again
    assert duplicate[:3] == (200, "duplicate", inventory_id)
    assert duplicate[3] == first_receipt
    assert (await send(gateway, cbec.envelope("order")))[1] == "accepted"
    assert (await gateway.admin("GET", f"/messages/{inventory_id}"))[1]["status"] == "waiting"
    await gateway.client.close()

    gateway = await start()
    assert (await send(gateway, cbec.envelope("logistics")))[1] == "accepted"
    record = await gateway.wait_status(inventory_id, "delivered")
    statuses = [e["status"] for e in record["history"]]
    assert statuses[:2] == ["received", "waiting"]
    assert sorted(statuses[2:]) == ["accepted", "delivered", "delivering"]  # in any order (see above)
    await clearance_inbox.wait_for(4)


async def test_an_inventory_still_incomplete_at_its_deadline_is_rejected(setup):
    deployment, start, nsw_inbox, clearance_inbox = setup
    gateway = await start()
    cbec = CbecSet()
    await send(gateway, cbec.envelope("order"))
    _, outcome, inventory_id, _ = await send(gateway, cbec.envelope("inventory"))
    assert outcome == "waiting"
    controls = gateway.client.server.app[RUNTIME].controls
    done = await controls.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1800))
    assert done["expired"] == 0  # not yet
    done = await controls.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601))
    assert done["expired"] == 1
    record = await gateway.wait_status(inventory_id, "rejected")
    assert record["code"] == "matching-incomplete"
    assert "payment of order" in record["reason"]
    assert "waybill" in record["reason"]
    await nsw_inbox.wait_for(1)
    _headers, body = nsw_inbox.received[0]
    receipt = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    assert receipt.findtext(f"{E}Header/{E}CorrelationID") == await sender_message_id(gateway, inventory_id)
    error = receipt.find(f"{E}Body/{W}Receipt/{W}Error")
    assert error.findtext(f"{W}ValidationCode") == "matching-incomplete"
    # A list arriving after the rejection does not bring the inventory back.
    await send(gateway, cbec.envelope("payment"))
    await send(gateway, cbec.envelope("logistics"))
    assert (await gateway.admin("GET", f"/messages/{inventory_id}"))[1]["status"] == "rejected"
    assert "inventory" not in delivered_types(clearance_inbox)


async def sender_message_id(gateway: Gateway, message_id: str) -> str | None:
    record = await gateway.runtime.store.get(message_id)
    assert record is not None, message_id
    return record.sender_message_id
