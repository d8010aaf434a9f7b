"""A month of mixed CBEC / postal / express / cargo traffic through the real gateway (app, broker, store),
with the shipped rules (rules/toys-ipr.toml): the planted infringing-toy pattern raises its alerts, delivered
signed to the administrations of the destinations concerned and to the single window; clean traffic raises
none. Then the monitoring query and ``gateway rules test`` over the stored month."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import itertools
import json
import re
from pathlib import Path

import pytest
from signxml import XMLVerifier

from gateway import cli
from gateway.app import build_app
from gateway.formats.canonical import CanonicalAdapter
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.controls.traffic import envelope, month
from tests.helpers import PartnerSpec, make_deployment, signed

W = "{urn:customs-gateway:wco:1}"
E = "{urn:customs-gateway:envelope:1}"
ROOT = Path(__file__).resolve().parents[2]
CUSTOMS = {"NL": "nl-customs", "DE": "de-customs", "PL": "pl-customs", "US": "us-customs"}
END = dt.datetime.now(dt.UTC).replace(microsecond=0)
RULES = ["toys-false-brand", "toys-destination-concentration", "toys-express-cbec"]


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    inboxes = {name: await inbox_factory() for name in [*CUSTOMS.values(), "cn-nsw", "cn-clearance"]}
    partners = [
        PartnerSpec(
            "cn-nsw",
            url=inboxes["cn-nsw"].url,
            role="single-window",
            country="CN",
            sends=["inventory", "declaration"],
            receives=["risk-alert", "receipt"],
        ),
        PartnerSpec("cn-express", role="single-window", country="CN", sends=["declaration"], receives=[]),
        PartnerSpec(
            "cn-clearance",
            url=inboxes["cn-clearance"].url,
            country="CN",
            sends=[],
            receives=["inventory", "declaration"],
        ),
        *[
            PartnerSpec(pid, url=inboxes[pid].url, country=cc, sends=["risk-alert"], receives=["risk-alert"])
            for cc, pid in CUSTOMS.items()
        ],
    ]
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    # The shipped rules, with one alert window covering the whole month (one alert per rule and pattern).
    text = (ROOT / "rules" / "toys-ipr.toml").read_text()
    (rules_dir / "toys-ipr.toml").write_text(re.sub(r'alert_window = "\w+"', 'alert_window = "31d"', text))
    deployment = make_deployment(
        tmp_path,
        partners,
        extra_toml="""
[controls]
monitoring = true
rules_dir = "rules"
country = "CN"
authority_name = "General Administration of Customs of China"
sender_channels = { "cn-express" = "express" }
""",
        rules="""
[[routing.rules]]
types = ["inventory", "declaration"]
receivers = ["cn-clearance"]
""",
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client), inboxes
    await client.close()
    await remove_topology(amqp, deployment, [p.id for p in partners])


async def send_month(gateway: Gateway, *, planted: bool) -> int:
    count = 0
    for shipment in month(planted=planted, end=END):
        identity = gateway.deployment.partners[shipment.sender]
        response = await gateway.client.post(
            f"/v1/partners/{shipment.sender}/messages",
            data=signed(identity, envelope(shipment)),
            headers={"Content-Type": "application/xml"},
        )
        assert response.status == 202, await response.text()
        count += 1
    return count


def run_cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(argv)) == 0
    return out.getvalue()


async def test_the_planted_pattern_raises_its_alerts_for_the_administrations_concerned(gateway):
    gw, inboxes = gateway
    sent = await send_month(gw, planted=True)
    assert sent == 30 * 9

    controls = gw.runtime.controls
    raised = controls.store.alerts()
    assert sorted(a.rule for a in raised) == sorted(RULES), [a.summary for a in raised]  # one per rule
    assert all(a.state == "sent" for a in raised)
    for alert in raised:
        assert alert.receivers == ("cn-nsw", "de-customs", "nl-customs", "pl-customs"), alert.summary

    # Delivered: each administration concerned and the single window got all three, the others none.
    for pid in ("nl-customs", "de-customs", "pl-customs", "cn-nsw"):
        await inboxes[pid].wait_for(3)
    assert [h for h, _ in inboxes["us-customs"].received] == []
    assert all(h["X-Message-Type"] == "risk-alert" for h, _ in inboxes["cn-nsw"].received)

    headers, body = inboxes["nl-customs"].received[0]
    assert headers["X-Sender"] == gw.deployment.settings().gateway.id
    delivered = {}
    for _, body in inboxes["nl-customs"].received:
        verified = XMLVerifier().verify(body, x509_cert=gw.deployment.gateway.cert).signed_xml
        CanonicalAdapter().validate(verified)
        alert = verified.find(f"{E}Body/{W}RiskAlert")
        codes = [c.text for c in alert.iterfind(f"{W}Indicator/{W}Code")]
        delivered[codes[0]] = alert

    brand = delivered["FALSE-BRAND-DECLARATION"]
    codes = [c.text for c in brand.iterfind(f"{W}Indicator/{W}Code")]
    assert codes == [
        "FALSE-BRAND-DECLARATION",
        "LOW-UNIT-VALUE",
        "DESTINATION-CONCENTRATION",
        "CHANNEL-PREFERENCE",
    ]
    assert brand.findtext(f"{W}RiskArea") == "IPR"
    assert brand.findtext(f"{W}IssuingAuthority/{W}CountryCode") == "CN"
    assert brand.findtext(f"{W}Commodity/{W}BrandName") == "Brikko"
    assert brand.findtext(f"{W}Commodity/{W}Classification/{W}ID") == "9503003500"
    assert brand.find(f"{W}Commodity/{W}UnitValue").get("currencyID") == "EUR"
    assert brand.findtext(f"{W}Commodity/{W}UnitValue") == "2.4"
    routes = {
        (r.findtext(f"{W}ExportationCountryCode"), r.findtext(f"{W}DestinationCountryCode"))
        for r in brand.iterfind(f"{W}Route")
    }
    assert routes == {("CN", "NL"), ("CN", "DE"), ("CN", "PL")}
    assert {c.text for c in brand.iterfind(f"{W}Channel")} == {"express", "cbec"}
    assert brand.findtext(f"{W}RecommendedAction/{W}Code") == "inspect"
    start = dt.datetime.fromisoformat(brand.findtext(f"{W}Validity/{W}StartDateTime"))
    end = dt.datetime.fromisoformat(brand.findtext(f"{W}Validity/{W}EndDateTime"))
    assert end - start == dt.timedelta(days=90)
    attachment = brand.find(f"{W}Attachment")
    content = base64.b64decode(attachment.findtext(f"{W}Content"))
    assert base64.b64decode(attachment.findtext(f"{W}DigestValue")) == hashlib.sha256(content).digest()
    rows = content.decode().splitlines()
    assert rows[0].startswith("time,channel,source,reference")
    assert len(rows) == 1 + 5
    assert all("(none)" in row and "9503003500" in row for row in rows[1:])

    concentration = delivered["DESTINATION-CONCENTRATION"]
    description = concentration.findtext(f"{W}Indicator/{W}Description")
    assert "HS 950300" in description
    assert "DE" in description
    assert "threshold 70%" in description
    channel = delivered["CHANNEL-PREFERENCE"]
    assert "express and cbec" in channel.findtext(f"{W}Indicator/{W}Description")

    # The monitoring view of the same month.
    report = run_cli(
        "consignments",
        "--config",
        str(gw.deployment.config_path),
        "--commodity",
        "9503",
        "--destination",
        "NL",
        "--days",
        "31",
        "--json",
    )
    assert '"by_channel"' in report
    data = json.loads(report)
    assert set(data["by_channel"]) <= {"post", "express", "cbec", "cargo"}
    assert data["total"] == sum(data["by_channel"].values()) >= 30
    assert all(c["destination"] == "NL" for c in data["consignments"])
    status, body = await gw.admin("GET", "/consignments?commodity=9503&destination=NL&days=31&limit=5")
    assert status == 200
    assert body["by_channel"] == data["by_channel"]
    assert len(body["consignments"]) == 5
    status, body = await gw.admin("GET", "/alerts")
    assert status == 200
    assert sorted(a["rule"] for a in body["alerts"]) == sorted(RULES)

    # What the rules would have raised over the stored month (nothing is sent).
    rules_file = Path(gw.deployment.settings().resolve(Path("rules"))) / "toys-ipr.toml"
    output = run_cli("rules", "test", str(rules_file), "--config", str(gw.deployment.config_path), "--days", "31")
    assert f"over {sent} stored consignment(s)" in output
    assert "3 alert(s) would have been raised" in output
    for rule in RULES:
        assert rule in output
    assert "would go to: cn-nsw, de-customs, nl-customs, pl-customs" in output

    # The shipped windows (7 days for the brand rule): one alert per pattern and window, not per consignment.
    output = run_cli(
        "rules",
        "test",
        str(ROOT / "rules" / "toys-ipr.toml"),
        "--config",
        str(gw.deployment.config_path),
        "--days",
        "31",
    )
    fired = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d) toys-false-brand \[brand:Brikko\]$", output, re.MULTILINE)
    times = [dt.datetime.strptime(t, "%Y-%m-%d %H:%M") for t in fired]
    assert 4 <= len(times) <= 5  # 90 flagged consignments over 30 days
    assert all(later - earlier >= dt.timedelta(days=7) for earlier, later in itertools.pairwise(times))


async def test_clean_traffic_raises_no_alert(gateway):
    gw, _inboxes = gateway
    sent = await send_month(gw, planted=False)
    assert sent == 30 * 6
    assert gw.runtime.controls.store.alerts() == []
    rules_file = gw.deployment.folder / "rules" / "toys-ipr.toml"
    output = run_cli("rules", "test", str(rules_file), "--config", str(gw.deployment.config_path), "--days", "31")
    assert "nothing would have fired" in output
    # Every destination and channel is in the view.
    status, body = await gw.admin("GET", "/consignments?days=31&limit=0")
    assert status == 200
    assert body["total"] == sent
    assert set(body["by_channel"]) == {"post", "express", "cbec", "cargo"}
    status, body = await gw.admin("GET", "/consignments?days=31&destination=US&limit=500")
    assert {c["destination"] for c in body["consignments"]} == {"US"}
