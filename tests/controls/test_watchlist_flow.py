"""The watch list of non-compliant products in the real flow (app, broker, store): a hit is held (202, the held
receipt in the sender's own format), an officer releases it (delivered) or refuses it (the sender gets the
rejection receipt), an ``alert`` entry only records the hit, a new regulator file is in force without a
restart, and the monitoring counts per platform and seller."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.ceb import CebAdapter
from gateway.mapping.ceb import CEB_NS
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.controls.cbec import CbecSet
from tests.formats import ceb_samples
from tests.helpers import ROOT, PartnerSpec, make_deployment, signed, wait_until

W = "{urn:customs-gateway:wco:1}"
E = "{urn:customs-gateway:envelope:1}"
C = f"{{{CEB_NS}}}"
TYPES = ["inventory", "declaration"]
ROUTES = '[[routing.rules]]\ntypes = ["inventory", "declaration"]\nreceivers = ["cn-clearance"]\n'
WATCHED_SPEC = "品牌:Brikko;型号:BK 7701"  # the SAMR entry's brand and model "BK-7701", written otherwise


def controls(folder: str) -> str:
    return f'\n[controls]\nwatchlist_dir = "{folder}"\nrules_reload_interval = 0.2\nsweep_interval = 3600\n'


@pytest.fixture
async def setup(tmp_path, inbox_factory, amqp, aiohttp_client):
    nsw_inbox, clearance_inbox = await inbox_factory(), await inbox_factory()
    watch = tmp_path / "watchlist"
    watch.mkdir()
    shutil.copy(ROOT / "watchlist" / "samr-recalls.csv", watch)
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url=nsw_inbox.url, role="single-window", country="CN", sends=TYPES,
                        receives=["receipt"]),
            PartnerSpec("cn-ceb", url=nsw_inbox.url, format="ceb", role="single-window", country="CN",
                        sends=["inventory"], receives=["receipt"]),
            PartnerSpec("cn-clearance", url=clearance_inbox.url, country="CN", sends=[], receives=TYPES),
        ],
        extra_toml=controls(str(watch)),
        rules=ROUTES,
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client), nsw_inbox, clearance_inbox, watch
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "cn-ceb", "cn-clearance"])


async def send(gateway: Gateway, sender: str, document: etree._Element) -> tuple[int, str, str, bytes]:
    body = signed(gateway.deployment.partners[sender], document)
    response = await gateway.client.post(
        f"/v1/partners/{sender}/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    return (
        response.status,
        response.headers["X-Gateway-Outcome"],
        response.headers["X-Gateway-Message-Id"],
        await response.read(),
    )


def verified(gateway: Gateway, body: bytes) -> etree._Element:
    return XMLVerifier().verify(body, x509_cert=gateway.deployment.gateway.cert).signed_xml


def inventory(spec: str | None = None, *, platform: str = "1105910159", hs: str | None = None,
              description: str | None = None) -> etree._Element:  # fmt: skip
    tweaks = []
    if spec is not None:
        tweaks.append((".//w:GoodsItem/w:Specification", spec))
    if hs is not None:
        tweaks.append((".//w:GoodsItem/w:Classification/w:ID", hs))
    if description is not None:
        tweaks.append((".//w:GoodsItem/w:Description", description))
    return CbecSet(platform=platform, tweaks={"inventory": tweaks}).envelope("inventory")


async def test_a_hit_is_held_then_released_from_the_api_and_delivered(setup):
    gateway, _nsw, clearance, _ = setup
    status, outcome, gateway_id, receipt = await send(gateway, "cn-nsw", inventory(WATCHED_SPEC))
    assert (status, outcome) == (202, "held")
    answer = verified(gateway, receipt).find(f"{E}Body/{W}Receipt")
    assert answer.findtext(f"{W}FunctionCode") == "held"
    errors = answer.findall(f"{W}Error")
    assert [e.findtext(f"{W}ValidationCode") for e in errors] == ["held", "held"]  # both goods items
    assert "SAMR-2026-0412" in errors[0].findtext(f"{W}Description")
    assert "brand-model" in errors[0].findtext(f"{W}Description")
    assert errors[0].findtext(f"{W}Pointer") == "/Envelope/Body/Inventory/ClearanceList[1]/GoodsItem[1]"
    record = await gateway.wait_status(gateway_id, "held")
    assert record["deliveries"] == []

    _, listed = await gateway.admin("GET", "/watchlist/holds?state=held")
    assert [h["message_id"] for h in listed["holds"]] == [gateway_id]
    assert listed["holds"][0]["hits"][0]["entry"] == "SAMR-2026-0412"
    assert listed["holds"][0]["platforms"] == ["1105910159"]

    response = await gateway.client.post(
        f"/v1/admin/watchlist/holds/{gateway_id}/release",
        json={"note": "lab report shows a compliant batch"},
        headers={**gateway.headers, "X-Gateway-Actor": "console:li.wei"},
    )
    assert response.status == 200, await response.text()
    decided = await response.json()
    assert (decided["state"], decided["decided_by"]) == ("released", "console:li.wei")
    record = await gateway.wait_status(gateway_id, "delivered")
    accepted = [e for e in record["history"] if e["status"] == "accepted"]
    assert accepted[0]["actor"] == "console:li.wei"
    assert "lab report shows a compliant batch" in accepted[0]["reason"]
    await clearance.wait_for(1)
    assert clearance.received[0][0]["X-Gateway-Message-Id"] == gateway_id

    # Decided once: a second decision is refused, naming who decided.
    status, body = await gateway.admin("POST", f"/watchlist/holds/{gateway_id}/refuse")
    assert status == 409
    assert body["error"] == "not-held"
    assert "released (by console:li.wei)" in body["message"]
    status, body = await gateway.admin("POST", "/watchlist/holds/no-such-message/release")
    assert (status, body["error"]) == (404, "not-found")
    # A note nested beyond json's recursion limit is a bad body, not a 500 (schemathesis-style hostile input).
    response = await gateway.client.post(
        "/v1/admin/watchlist/holds/no-such-message/release", data=b"[" * 100_000, headers=gateway.headers
    )
    assert (response.status, (await response.json())["error"]) == (400, "bad-request")


async def test_a_refused_hit_answers_the_sender_with_its_rejection_receipt(setup):
    gateway, nsw, clearance, _ = setup
    _, outcome, gateway_id, _ = await send(gateway, "cn-nsw", inventory(WATCHED_SPEC))
    assert outcome == "held"
    status, body = await gateway.admin("POST", f"/watchlist/holds/{gateway_id}/refuse", json={"note": "DEHP 0.4%"})
    assert (status, body["state"]) == (200, "refused")
    record = await gateway.wait_status(gateway_id, "rejected")
    assert record["code"] == "non-compliant"
    assert record["history"][-1]["actor"] == "admin-api"
    await nsw.wait_for(1)
    headers, delivered = nsw.received[0]
    assert headers["X-Message-Type"] == "receipt"
    receipt = verified(gateway, delivered)
    assert receipt.findtext(f"{E}Header/{E}CorrelationID") == record["sender_message_id"]
    answer = receipt.find(f"{E}Body/{W}Receipt")
    assert answer.findtext(f"{W}FunctionCode") == "rejected"
    codes = [e.findtext(f"{W}ValidationCode") for e in answer.findall(f"{W}Error")]
    assert set(codes) == {"non-compliant"}
    assert "DEHP 0.4%" in answer.findtext(f"{W}Error/{W}Description")
    assert clearance.received == []


async def test_an_alert_entry_forwards_and_records_the_hit(setup):
    gateway, *_ = setup
    status, outcome, gateway_id, _ = await send(
        gateway, "cn-nsw", inventory(hs="3304990000", description="Skin-whitening cream 50 ml")
    )
    assert (status, outcome) == (202, "accepted")
    await gateway.wait_status(gateway_id, "delivered")
    _, listed = await gateway.admin("GET", "/watchlist/holds?state=alerted")
    assert [h["message_id"] for h in listed["holds"]] == [gateway_id]
    assert listed["holds"][0]["hits"][0]["by"] == "hs-keywords"
    # Same HS, other goods: no keyword, no hit.
    _, outcome, _, _ = await send(gateway, "cn-nsw", inventory(hs="3304990000", description="Lipstick"))
    assert outcome == "accepted"
    _, listed = await gateway.admin("GET", "/watchlist/holds?state=alerted")
    assert len(listed["holds"]) == 1


async def test_a_new_regulator_file_is_in_force_without_a_restart_and_a_bad_one_is_refused(setup):
    gateway, *_, watch = setup
    spec = "品牌:Sleepwell;型号:SW200"
    assert (await send(gateway, "cn-nsw", inventory(spec)))[1] == "accepted"
    (watch / "bad.csv").write_text("brand,model,gtin\nX,,4006381333932\n")  # wrong check digit
    (watch / "eu.json").write_bytes((ROOT / "watchlist" / "eu-safety-gate.json").read_bytes())

    async def refused_then_loaded() -> bool:
        _, body = await gateway.admin("GET", "/watchlist")
        return body["total"] == 3  # the bad file keeps the three entries in force

    await wait_until(refused_then_loaded, "the watch list kept")
    (watch / "bad.csv").unlink()

    async def reloaded() -> bool:
        _, body = await gateway.admin("GET", "/watchlist")
        return body["total"] == 5

    await wait_until(reloaded, "the watch list reloaded")
    assert (await send(gateway, "cn-nsw", inventory(spec)))[1] == "held"


async def test_a_ceb_inventory_is_held_with_ceb622_status_300_and_refused_with_its_ceb622(setup):
    gateway, nsw, _clearance, _ = setup
    purchase = ceb_samples.Purchase(order_no="ORD-WATCH-0001")
    document = ceb_samples.inventory(purchase)
    document.find(f".//{C}InventoryList/{C}gmodel").text = WATCHED_SPEC
    status, outcome, gateway_id, receipt = await send(gateway, "cn-ceb", document)
    assert (status, outcome) == (202, "held")
    answer = ceb_samples.carried(verified(gateway, receipt))
    assert etree.QName(answer).localname == "CEB622Message"
    CebAdapter().validate(answer)
    returned = answer.find(f"{C}InventoryReturn")
    assert returned.findtext(f"{C}returnStatus") == "300"  # 人工审核: held for an officer
    assert "SAMR-2026-0412" in returned.findtext(f"{C}returnInfo")

    status, _ = await gateway.admin("POST", f"/watchlist/holds/{gateway_id}/refuse")
    assert status == 200
    await nsw.wait_for(1)
    refusal = ceb_samples.carried(verified(gateway, nsw.received[0][1]))
    assert etree.QName(refusal).localname == "CEB622Message"
    returned = refusal.find(f"{C}InventoryReturn")
    assert returned.findtext(f"{C}returnStatus") == "-2999"
    assert "non-compliant" in returned.findtext(f"{C}returnInfo")


async def test_monitoring_gives_the_share_held_refused_and_alerted_per_platform_and_seller(setup):
    gateway, *_ = setup
    ids = []
    for spec in (WATCHED_SPEC, WATCHED_SPEC, None, None):
        ids.append((await send(gateway, "cn-nsw", inventory(spec, platform="P-RISKY")))[2])
    await send(gateway, "cn-nsw", inventory(platform="P-CLEAN"))
    await send(gateway, "cn-nsw", inventory(hs="3304990000", description="Skin whitening cream", platform="P-CLEAN"))
    assert (await gateway.admin("POST", f"/watchlist/holds/{ids[0]}/refuse"))[0] == 200

    status, body = await gateway.admin("GET", "/watchlist/monitoring?by=platform&days=7")
    assert status == 200
    groups = {g["platform"]: g for g in body["groups"]}
    risky, clean = groups["P-RISKY"], groups["P-CLEAN"]
    assert (risky["total"], risky["held"], risky["refused"], risky["alerted"]) == (4, 2, 1, 0)
    assert (risky["held_share"], risky["refused_share"]) == (0.5, 0.25)
    assert (clean["total"], clean["held"], clean["alerted"], clean["alerted_share"]) == (2, 0, 1, 0.5)
    assert [g["platform"] for g in body["groups"]][:2] == ["P-RISKY", "P-CLEAN"]  # the riskiest first
    assert [d["held"] for d in risky["days"]] == [2]
    _, by_seller = await gateway.admin("GET", "/watchlist/monitoring?by=seller")
    assert by_seller["groups"][0]["seller"] == "1105910160"
    assert by_seller["groups"][0]["total"] == 6
    status, body = await gateway.admin("GET", "/watchlist/monitoring?by=country")
    assert (status, body["error"]) == (400, "bad-request")


async def test_a_declaration_is_held_by_hs_and_keywords_and_counted_under_its_exporter(setup):
    gateway, *_, watch = setup
    (watch / "toys.csv").write_text("id,hs,keywords,hazard,action\nTOYS-1,9503,construction toy,Small parts,hold\n")

    async def loaded() -> bool:
        _, body = await gateway.admin("GET", "/watchlist")
        return body["total"] == 4

    await wait_until(loaded, "the new file loaded")
    declaration = etree.fromstring((ROOT / "examples" / "declaration.xml").read_bytes())
    header = declaration.find(f"{E}Header")
    header.find(f"{E}MessageID").text = f"DEC-{uuid.uuid4().hex[:16]}"
    header.find(f"{E}Sender").text = "cn-nsw"
    header.find(f"{E}Receiver").text = "cn-clearance"
    header.find(f"{E}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, outcome, gateway_id, receipt = await send(gateway, "cn-nsw", declaration)
    assert (status, outcome) == (202, "held")
    errors = verified(gateway, receipt).findall(f"{E}Body/{W}Receipt/{W}Error")
    assert [e.findtext(f"{W}Pointer") for e in errors] == ["/Envelope/Body/Declaration/GoodsItem[1]"]
    assert "TOYS-1" in errors[0].findtext(f"{W}Description")
    assert "hs-keywords" in errors[0].findtext(f"{W}Description")
    _, body = await gateway.admin("GET", "/watchlist/monitoring?by=seller")
    (group,) = [g for g in body["groups"] if g["seller"] == "91440300MA5XXXXX0T"]  # the declaration's exporter
    assert (group["total"], group["held"]) == (1, 1)
    status, body = await gateway.admin("POST", f"/watchlist/holds/{gateway_id}/release")
    assert (status, body["state"]) == (200, "released")
    await gateway.wait_status(gateway_id, "delivered")


async def test_the_sweep_finishes_what_a_dead_process_left_half_done(setup):
    """A hold whose request died before parking it, and a release whose process died before carrying it out:
    the sweep parks the first (an officer can decide it) and finishes the second (delivered)."""
    gateway, _nsw, clearance, _ = setup
    controls = gateway.runtime.controls
    assert controls is not None
    store = controls.store
    first = (await send(gateway, "cn-nsw", inventory(WATCHED_SPEC)))[2]
    second = (await send(gateway, "cn-nsw", inventory(WATCHED_SPEC)))[2]
    await gateway.wait_status(second, "held")
    store.set_watch_state(first, "pending")  # as if the request had died before parking it
    store.set_watch_state(second, "releasing", expect=("held",), decided_by="console:li.wei")  # and never went on
    with store.transaction() as db:  # both a minute old
        db.execute("UPDATE watch_holds SET updated = updated - 120")
    done = await controls.sweep()
    assert done["decisions"] == 2
    assert store.watch(first).state == "held"
    assert store.watch(second).state == "released"
    record = await gateway.wait_status(second, "delivered")
    assert [e["actor"] for e in record["history"] if e["status"] == "accepted"] == ["console:li.wei"]
    status, body = await gateway.admin("POST", f"/watchlist/holds/{first}/refuse")
    assert (status, body["state"]) == (200, "refused")
    await clearance.wait_for(1)
