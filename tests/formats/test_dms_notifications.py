"""RES-DMS notifications of every FunctionCode as canonical notifications, in and out, through the real app."""

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
from tests.formats.support import load
from tests.formats.test_wco_dms import DECISIONS, NS, leaves
from tests.helpers import ENV, PartnerSpec, make_deployment, signed

E = f"{{{ENV}}}"


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    canonical_inbox, dms_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("gb-hmrc", format="wco-dms", country="GB", sends=["notification"], receives=[]),
            PartnerSpec("nl-customs", url=canonical_inbox.url, sends=["notification"], receives=["notification"]),
            PartnerSpec(
                "gb-broker", url=dms_inbox.url, format="wco-dms", country="GB", sends=[], receives=["notification"]
            ),
        ],
        rules=(
            '[[routing.rules]]\ntypes = ["notification"]\nsenders = ["gb-hmrc"]\nreceivers = ["nl-customs"]\n'
            '[[routing.rules]]\ntypes = ["notification"]\nsenders = ["nl-customs"]\nreceivers = ["gb-broker"]\n'
        ),
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, canonical_inbox, dms_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-hmrc", "nl-customs", "gb-broker"])


def fresh(path) -> etree._Element:
    """The sample issued now (the replay window applies to a notification's IssueDateTime)."""
    root = load(path)
    stamp = root.find("r:Response/r:IssueDateTime", NS)[0]
    stamp.text = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%SZ")
    return root


@pytest.mark.parametrize("path", [p for p in DECISIONS if "_07" not in p.name], ids=lambda p: p.stem)
async def test_a_customs_decision_reaches_a_canonical_partner_and_goes_back_out_as_res(flow, path):
    deployment, client, canonical_inbox, dms_inbox = flow
    original = fresh(path)
    response = await client.post("/v1/partners/gb-hmrc/messages", data=signed(deployment.partners["gb-hmrc"], original))
    assert response.status == 202, await response.text()
    receipt = XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert).signed_xml
    assert receipt.findtext("r:Response/r:FunctionCode", namespaces=NS) == "02"

    await canonical_inbox.wait_for(1)
    headers, delivered = canonical_inbox.received[0]
    assert headers["X-Message-Type"] == "notification"
    envelope = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    CanonicalAdapter().validate(envelope)
    code = original.findtext("r:Response/r:FunctionCode", namespaces=NS)
    assert (
        envelope.findtext(
            f"{E}Body/{{urn:customs-gateway:wco:1}}Notification/{{urn:customs-gateway:wco:1}}FunctionCode"
        )
        == code
    )

    # The canonical partner passes it on: the DMS receiver gets the same Response back.
    onward = etree.fromstring(etree.tostring(envelope))
    header = onward.find(f"{E}Header")
    header.find(f"{E}MessageID").text = "NL-FWD-" + code
    header.find(f"{E}Sender").text = "nl-customs"
    header.find(f"{E}Receiver").text = "gb-broker"
    header.find(f"{E}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header.remove(header.find(f"{E}GatewayMessageID"))
    response = await client.post(
        "/v1/partners/nl-customs/messages", data=signed(deployment.partners["nl-customs"], onward)
    )
    assert response.status == 202, await response.text()
    await dms_inbox.wait_for(1)
    document = XMLVerifier().verify(dms_inbox.received[0][1], x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(document)
    assert document.tag == dms.MD + "MetaData"
    assert leaves(document.find("r:Response", NS)) == leaves(original.find("r:Response", NS))
