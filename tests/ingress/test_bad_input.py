"""Bad input, through the real app, a real broker and real receivers (issue 11 item 6): a value the canonical
form or a receiver's format cannot carry is 422 mapping-failed naming path and value, an invalid document is
422 schema-invalid naming line and reason, never a 500, and nothing is forwarded.

"Nothing forwarded": every receiver queue is FIFO, so after the refusals a control message is sent to the
same receiver; it must be the first and only message that receiver gets.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.canonical import set_header
from gateway.formats.ics_ens import IcsEnsAdapter
from gateway.mapping import wco_dms as dms
from tests.conftest import remove_topology
from tests.formats.support import load
from tests.helpers import FIXTURES, PartnerSpec, envelope, make_deployment, signed

NS = {"d": dms.DEC_NS, "r": dms.RES_NS}
DEC = FIXTURES / "wco-dec-dms" / "samples" / "declarations" / "TT_IM077a__TT_IM077a.xml"
ENS = FIXTURES / "ics-ens" / "ens_store" / "test_xmls"


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    canonical_inbox, ics_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("gb-hmrc", format="wco-dms", country="GB", sends=["declaration"], receives=[]),
            PartnerSpec(
                "gb-ics", url=ics_inbox.url, format="ics-ens", country="GB", receives=["declaration", "risk-alert"]
            ),
            PartnerSpec("nl-customs", url=canonical_inbox.url, sends=[], receives=["declaration", "risk-alert"]),
            PartnerSpec("de-customs", country="DE", sends=["risk-alert", "declaration"], receives=[]),
        ],
        rules=(
            '[[routing.rules]]\ntypes = ["declaration"]\nsenders = ["gb-hmrc"]\nreceivers = ["nl-customs"]\n'
            '[[routing.rules]]\ntypes = ["declaration"]\nsenders = ["de-customs"]\nreceivers = ["gb-ics"]\n'
        ),
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, canonical_inbox, ics_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-hmrc", "gb-ics", "nl-customs", "de-customs"])


async def refused(client, deployment, partner: str, body: bytes, code: str) -> str:
    """The refusal's human message (from its signed receipt), after checking status and outcome."""
    response = await client.post(
        f"/v1/partners/{partner}/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    answer = await response.read()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, code), answer
    receipt = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
    return " ".join(t.strip() for t in receipt.itertext())


def ics_alert() -> etree._Element:
    """A canonical risk alert an ICS receiver can take: the published CC351A's, from de-customs."""
    adapter = IcsEnsAdapter()
    root = load(FIXTURES / "ics-ens" / "intervention_cc351a" / "test_xmls" / "InterventionAllOptional.xml")
    alert = adapter.to_canonical(root, adapter.identify(root), "de-customs")
    set_header(alert, "MessageID", f"CTL-{uuid.uuid4().hex[:12]}")
    set_header(alert, "Receiver", "gb-ics")
    set_header(alert, "CreationDateTime", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return alert


async def control(client, deployment, inbox, receiver: str) -> None:
    """A risk alert to ``receiver``: it must be the first and only message delivered there."""
    alert = envelope("de-customs", receiver) if receiver != "gb-ics" else ics_alert()
    response = await client.post(
        "/v1/partners/de-customs/messages", data=signed(deployment.partners["de-customs"], alert)
    )
    assert response.status == 202, await response.text()
    await inbox.wait_for(1)
    assert [h["X-Message-Type"] for h, _ in inbox.received] == ["risk-alert"]


async def test_an_invalid_dec_is_schema_invalid_naming_line_and_reason_and_not_forwarded(flow):
    deployment, client, canonical_inbox, _ = flow
    root = load(DEC)
    root.find("d:Declaration/d:TypeCode", NS).addnext(etree.Element(dms.DEC + "Colour"))
    text = await refused(client, deployment, "gb-hmrc", signed(deployment.partners["gb-hmrc"], root), "schema-invalid")
    assert "Colour" in text
    assert "This element is not expected" in text
    assert re.search(r"does not match its schema at line \d+: ", text)
    await control(client, deployment, canonical_inbox, "nl-customs")


async def test_a_value_the_receivers_format_cannot_carry_is_mapping_failed_naming_receiver_path_value(flow):
    """A canonical declaration routed to an ICS receiver: the CC315A has no place for a WCO DEC value."""
    deployment, client, _, ics_inbox = flow
    declaration = envelope("de-customs", None, message_type="declaration", example="declaration.xml")
    text = await refused(
        client, deployment, "de-customs", signed(deployment.partners["de-customs"], declaration), "mapping-failed"
    )
    assert "receiver gb-ics (ics-ens) cannot take this declaration" in text
    assert "/Envelope/Body/Declaration/TypeCode: the ICS message carries TypeCode 'ENS' only, not 'EX'" in text
    await control(client, deployment, ics_inbox, "gb-ics")


async def test_an_invalid_ens_is_schema_invalid_naming_line_and_reason(flow):
    deployment, client, _, _ = flow
    # Sent by a partner in the ics-ens format: the CC315A sample HMRC publishes as schema-invalid.
    root = load(ENS / "CC315A-schemaInvalidSample-v11-2.xml")
    now = dt.datetime.now(dt.UTC)
    root.find("DatOfPreMES9").text, root.find("TimOfPreMES10").text = now.strftime("%y%m%d"), now.strftime("%H%M")
    text = await refused(client, deployment, "gb-ics", signed(deployment.partners["gb-ics"], root), "schema-invalid")
    assert re.search(r"the CC315A does not match its schema at line \d+: ", text)


@pytest.mark.parametrize(
    ("stamp", "code", "words"),
    [
        ("00010101000000+14", "schema-invalid", "UTC years 1-9999"),  # was a 500: OverflowError converting to UTC
        ("99991231235959-14", "schema-invalid", "UTC years 1-9999"),
        ("\uff12\uff10\uff12\uff16\uff11\uff12\uff10\uff13\uff11\uff10\uff10\uff10\uff10\uff10Z", "mapping-failed",
         "does not match its format code"),  # fullwidth digits: \d took them, fromisoformat did not (a 500)
    ],
    ids=["year-1-at-plus-14", "year-9999-at-minus-14", "fullwidth-digits"],
)  # fmt: skip
async def test_a_dec_issue_time_the_gateway_cannot_compare_is_refused_naming_it(flow, stamp, code, words):
    deployment, client, canonical_inbox, _ = flow
    root = load(DEC)
    issue = etree.Element(dms.DEC + "IssueDateTime")
    string = etree.SubElement(issue, f"{{{dms.DEC_DS_NS}}}DateTimeString", formatCode="304")
    string.text = stamp
    root.find("d:Declaration/d:TypeCode", NS).addnext(issue)
    response = await client.post(
        "/v1/partners/gb-hmrc/messages", data=signed(deployment.partners["gb-hmrc"], root),
        headers={"Content-Type": "application/xml"},
    )  # fmt: skip
    answer = await response.read()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, code), answer
    text = " ".join(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml.itertext())
    assert "IssueDateTime" in text
    assert words in text
    assert canonical_inbox.received == []
