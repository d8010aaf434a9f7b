"""Follow-ups follow (docs/DESIGN.md 8): an amendment reusing its declaration's LRN is a new message, linked to
the declaration and delivered after it; its resend is a duplicate; other content under its key is a replay.
Through the real app, a real broker and real receivers."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.wco_dms import WcoDmsAdapter
from gateway.mapping import wco_dms as dms
from tests.conftest import remove_topology
from tests.formats.support import load, record_of
from tests.helpers import ENV, FIXTURES, PartnerSpec, make_deployment, signed

NS = {"md": dms.MD_NS, "d": dms.DEC_NS, "r": dms.RES_NS, "e": ENV}
DECLARATION = FIXTURES / "wco-dec-dms" / "samples" / "declarations" / "TT_IM077a__TT_IM077a.xml"
LRN = "U.7847767797YA"


def declaration(lrn: str = LRN) -> etree._Element:
    root = load(DECLARATION)
    root.find("d:Declaration/d:FunctionalReferenceID", NS).text = lrn
    return root


def amendment(issued: dt.datetime, lrn: str = LRN, description: str | None = None) -> etree._Element:
    """The declaration again as a FunctionCode 13 request, issued at ``issued``."""
    root = declaration(lrn)
    dec = root.find("d:Declaration", NS)
    dec.find("d:FunctionCode", NS).text = "13"
    when = etree.Element(dms.DEC + "IssueDateTime")
    etree.SubElement(
        when, "{urn:wco:datamodel:WCO:Declaration_DS:DMS:2}DateTimeString", formatCode="304"
    ).text = issued.strftime("%Y%m%d%H%M%SZ")
    dec.find("d:FunctionalReferenceID", NS).addnext(when)
    if description is not None:
        dec.find(".//d:Commodity/d:Description", NS).text = description
    return root


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("gb-hmrc", format="wco-dms", country="GB", sends=["declaration"], receives=[]),
            PartnerSpec("nl-customs", url=inbox.url, sends=[], receives=["declaration"]),
        ],
        rules='[[routing.rules]]\ntypes = ["declaration"]\nreceivers = ["nl-customs"]\n',
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-hmrc", "nl-customs"])


async def post(client, body: bytes):
    response = await client.post(
        "/v1/partners/gb-hmrc/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    return response, await response.read()


def header(envelope: etree._Element, name: str) -> str | None:
    return envelope.findtext(f"e:Header/e:{name}", namespaces=NS)


async def test_declaration_amendment_and_resend_are_accepted_linked_and_delivered_in_order(flow, capsys):
    deployment, client, inbox = flow
    hmrc = deployment.partners["gb-hmrc"]
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)

    first, first_receipt = await post(client, signed(hmrc, declaration()))
    assert first.status == 202, first_receipt
    original = first.headers["X-Gateway-Message-Id"]
    assert "X-Gateway-Follows" not in first.headers

    amended = signed(hmrc, amendment(issued))
    second, second_receipt = await post(client, amended)
    assert second.status == 202, second_receipt
    follow_up = second.headers["X-Gateway-Message-Id"]
    assert second.headers["X-Gateway-Follows"] == original
    receipt = XMLVerifier().verify(second_receipt, x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(receipt)
    assert receipt.findtext("r:Response/r:FunctionCode", namespaces=NS) == "02"
    assert receipt.findtext("r:Response/r:Declaration/r:FunctionalReferenceID", namespaces=NS) == LRN

    # The same amendment again (signed anew: the signature differs, the signed content does not): a duplicate.
    third, third_receipt = await post(client, signed(hmrc, amendment(issued)))
    assert (third.status, third.headers["X-Gateway-Outcome"]) == (200, "duplicate")
    assert third.headers["X-Gateway-Message-Id"] == follow_up
    assert third_receipt == second_receipt

    await inbox.wait_for(2)
    envelopes = [XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml for _, body in inbox.received]
    for envelope in envelopes:
        CanonicalAdapter().validate(envelope)
    assert [header(e, "GatewayMessageID") for e in envelopes] == [original, follow_up]
    key = f"{LRN}:13:{issued:%Y%m%dT%H%M%SZ}"
    assert [header(e, "MessageID") for e in envelopes] == [LRN, key]
    assert [header(e, "CorrelationID") for e in envelopes] == [None, LRN]
    record = await record_of(deployment, client, follow_up, "delivered")
    assert record["status"] == "delivered"
    with capsys.disabled():
        print(
            f"\nfollow-ups end to end: declaration {first.status} {first.headers['X-Gateway-Outcome']} {original}; "
            f"amendment {second.status} {second.headers['X-Gateway-Outcome']} {follow_up} "
            f"follows {second.headers['X-Gateway-Follows']}; resend {third.status} "
            f"{third.headers['X-Gateway-Outcome']} {third.headers['X-Gateway-Message-Id']}; delivered in order: "
            f"{[(header(e, 'MessageID'), header(e, 'CorrelationID')) for e in envelopes]}"
        )
    assert len(inbox.received) == 2


async def test_other_content_under_a_follow_ups_key_is_replayed(flow):
    deployment, client, _ = flow
    hmrc = deployment.partners["gb-hmrc"]
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert (await post(client, signed(hmrc, declaration())))[0].status == 202
    assert (await post(client, signed(hmrc, amendment(issued))))[0].status == 202

    response, body = await post(client, signed(hmrc, amendment(issued, description="Other goods")))
    assert response.status == 409, body
    receipt = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    assert receipt.findtext("r:Response/r:FunctionCode", namespaces=NS) == "03"
    description = receipt.findtext("r:Response/r:Error/r:Description", namespaces=NS)
    assert f"{LRN}:13:{issued:%Y%m%dT%H%M%SZ}" in description
    # A second amendment, issued later, is a message of its own.
    later, _ = await post(client, signed(hmrc, amendment(issued + dt.timedelta(seconds=1), description="Other")))
    assert later.status == 202


async def test_a_follow_up_outside_the_window_is_replayed(flow):
    deployment, client, _ = flow
    hmrc = deployment.partners["gb-hmrc"]
    assert (await post(client, signed(hmrc, declaration())))[0].status == 202
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    response, body = await post(client, signed(hmrc, amendment(stale)))
    assert response.status == 409, body
    assert response.headers["X-Gateway-Outcome"] == "replayed"


async def test_a_declaration_whose_lrn_has_a_space_is_accepted(flow):
    """DEC's LRN is an..35 text: a space is the partner's to use; the canonical MessageID is derived from it."""
    deployment, client, inbox = flow
    hmrc = deployment.partners["gb-hmrc"]
    response, body = await post(client, signed(hmrc, declaration("GB LRN 0001")))
    assert response.status == 202, body
    receipt = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    assert receipt.findtext("r:Response/r:Declaration/r:FunctionalReferenceID", namespaces=NS) == "GB LRN 0001"
    await inbox.wait_for(1)
    envelope = XMLVerifier().verify(inbox.received[0][1], x509_cert=deployment.gateway.cert).signed_xml
    CanonicalAdapter().validate(envelope)
    assert header(envelope, "MessageID").startswith("sha256-")
    assert envelope.findtext(".//{urn:customs-gateway:wco:1}FunctionalReferenceID") == "GB LRN 0001"
