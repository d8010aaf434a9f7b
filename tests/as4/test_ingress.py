"""``POST /v1/as4`` against the independent peer (PyPI as4 in its own process), and hostile AS4 input."""

from __future__ import annotations

import gzip
import io

import pytest
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4 import encryption, mime, signals, wss
from gateway.as4.message import Party, Payload, UserMessage, build, envelope_for, new_message_id
from gateway.runtime import RUNTIME
from tests.as4 import support
from tests.helpers import ENV, envelope, signed

E = f"{{{ENV}}}"


def token(deployment) -> str:
    return deployment.settings().resolve(deployment.settings().admin.token_file).read_text().strip()


def document(deployment) -> bytes:
    return signed(deployment.partners["peer-ap"], envelope("peer-ap", "de-customs"))


async def test_peer_message_is_accepted_and_delivered_to_a_canonical_partner(gateway, tmp_path):
    deployment, client, inbox = gateway
    payload = tmp_path / "alert.xml"
    payload.write_bytes(document(deployment))
    url = str(client.make_url("/v1/as4"))

    outcome = await support.peer_send(tmp_path, support.peer_config(deployment, url=url, payload=str(payload)))

    # The peer's library verified the gateway's receipt: signature, RefToMessageId, and every digest it sent.
    assert outcome["state"] == "acknowledged", outcome
    assert "receipt_error" not in outcome
    acknowledged = outcome["acknowledged"]
    assert isinstance(acknowledged, list)
    assert len(acknowledged) == 3  # eb:Messaging, the Body, the payload
    await inbox.wait_for(1)
    headers, delivered = inbox.received[0]
    assert headers["X-Sender"] == "peer-ap"
    assert etree.fromstring(delivered).findtext(f"{E}Header/{E}Sender") == "peer-ap"
    evidence = await client.get(
        f"/v1/admin/messages/{headers['X-Gateway-Message-Id']}/evidence",
        headers={"Authorization": f"Bearer {token(deployment)}"},
    )
    kept = (await evidence.json())["evidence"]
    assert [e["kind"] for e in kept] == ["as4-message-received", "as4-receipt-sent"]
    assert {e["reference"] for e in kept} == {outcome["message_id"]}
    assert "NonRepudiationInformation" in kept[1]["document"]


# -- hostile input: built with the gateway's own core (as the peer), then spoiled ------------------------------


def user_message(**overrides: object) -> UserMessage:
    fields: dict[str, object] = {
        "message_id": new_message_id("peer"),
        "from_party": Party("PEER-AP", support.UNREGISTERED),
        "to_party": Party("GW-AP", support.UNREGISTERED, c.RESPONDER),
        "service": support.SERVICE,
        "service_type": "urn:customs-gateway:service-type",
        "action": support.ACTION,
        "conversation_id": "c-1",
    }
    fields.update(overrides)
    return UserMessage(**fields)  # type: ignore[arg-type]


def good(deployment, um: UserMessage | None = None, *, encrypt: bool = True, signer: str = "peer-ap"):
    return build(
        um or user_message(),
        [Payload("alert@peer", document(deployment))],
        support.credentials(deployment, signer),
        encrypt_for=deployment.gateway.cert if encrypt else None,
    )


def respoil(out, change) -> tuple[str, bytes]:
    parts = mime.parse(out.content_type, out.body)
    root = etree.fromstring(parts.soap)
    change(root)
    return mime.build(etree.tostring(root), list(parts.parts.values()))


async def post(client, content_type: str, body: bytes) -> tuple[str, str]:
    response = await client.post("/v1/as4", data=io.BytesIO(body), headers={"Content-Type": content_type})
    assert response.status == 200
    answer = await response.read()
    error = etree.fromstring(answer).find(".//{*}SignalMessage/{*}Error")
    assert error is not None, answer
    assert response.headers["X-Gateway-Outcome"] == error.get("errorCode")
    return error.get("errorCode"), error.findtext("{*}ErrorDetail")


def _unsigned(deployment):
    out = good(deployment, encrypt=False)

    def drop(root):
        sec = root.find(f".//{{{c.WSSE}}}Security")
        sec.getparent().remove(sec)

    return respoil(out, drop)


def _partial(deployment):
    env = envelope_for(user_message(), [Payload("alert@peer", b"")], compressed=True)
    data = gzip.compress(document(deployment))
    wss.sign(env, {}, support.credentials(deployment, "peer-ap"))  # Messaging and Body only: no payload
    return mime.build(etree.tostring(env), [mime.Part("alert@peer", "application/gzip", data)])


def _swapped(deployment):
    out = good(deployment, encrypt=False)
    parts = mime.parse(out.content_type, out.body)
    other = gzip.compress(signed(deployment.partners["peer-ap"], envelope("peer-ap", "de-customs")))
    return mime.build(parts.soap, [mime.Part("alert@peer", "application/gzip", other)])


def _body_wrapping(deployment):
    def wrap(root):
        body = root.find(f"{{{c.S12}}}Body")
        root.remove(body)
        root.find(f"{{{c.S12}}}Header").append(body)
        etree.SubElement(root, f"{{{c.S12}}}Body").append(etree.Element("Forged"))

    return respoil(good(deployment, encrypt=False), wrap)


def _unknown_party(deployment):
    out = good(deployment, user_message(from_party=Party("STRANGER-AP", support.UNREGISTERED)))
    return out.content_type, out.body


def _mismatched_party(deployment):
    out = good(deployment, signer="de-customs")  # a real partner's key, claiming to be PEER-AP
    return out.content_type, out.body


def _wrong_to(deployment):
    out = good(deployment, user_message(to_party=Party("SOMEONE-ELSE", support.UNREGISTERED, c.RESPONDER)))
    return out.content_type, out.body


def _bomb(deployment):
    bomb = gzip.compress(b" " * 40_000_000)
    env = envelope_for(user_message(), [Payload("alert@peer", b"")], compressed=True)
    wss.sign(env, {"alert@peer": bomb}, support.credentials(deployment, "peer-ap"))
    encrypted = encryption.encrypt(env, {"alert@peer": ("application/gzip", bomb)}, deployment.gateway.cert)
    return mime.build(
        etree.tostring(env), [mime.Part("alert@peer", "application/octet-stream", encrypted["alert@peer"])]
    )


def _other_key(deployment):
    out = build(
        user_message(),
        [Payload("alert@peer", document(deployment))],
        support.credentials(deployment, "peer-ap"),
        encrypt_for=deployment.partners["de-customs"].cert,
    )
    return out.content_type, out.body


def _not_encrypted(deployment):
    out = good(deployment, encrypt=False)
    return out.content_type, out.body


def _oversize(deployment):
    out = good(deployment)
    return out.content_type, out.body + b" " * (deployment.settings().http.max_body_bytes + 1)


HOSTILE = {
    "unsigned": (_unsigned, "EBMS:0101"),
    "signature over part only": (_partial, "EBMS:0101"),
    "signed attachment swapped": (_swapped, "EBMS:0101"),
    "SOAP body wrapping": (_body_wrapping, "EBMS:0101"),
    "unknown party": (_unknown_party, "EBMS:0010"),
    "mismatched party (other partner's key)": (_mismatched_party, "EBMS:0101"),
    "To is not this gateway": (_wrong_to, "EBMS:0003"),
    "decompression bomb": (_bomb, "EBMS:0303"),
    "encrypted for another key": (_other_key, "EBMS:0102"),
    "unencrypted where encryption is required": (_not_encrypted, "EBMS:0103"),
    "oversize": (_oversize, "EBMS:0103"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_input_gets_its_ebms_error_and_nothing_is_forwarded(gateway, case):
    deployment, client, inbox = gateway
    make, expected = HOSTILE[case]
    content_type, body = make(deployment)
    code, detail = await post(client, content_type, body)
    assert code == expected, detail
    runtime = client.app[RUNTIME]
    assert await runtime.store.find(partner="peer-ap") == []  # the pipeline never saw it: nothing forwarded
    assert inbox.received == []


async def test_replayed_message_id_gets_the_original_receipt(gateway):
    deployment, client, inbox = gateway
    out = good(deployment)
    first = await client.post("/v1/as4", data=out.body, headers={"Content-Type": out.content_type})
    receipt = await first.read()
    assert first.headers["X-Gateway-Outcome"] == "accepted"
    checked = signals.check(
        "", receipt, sent_message_id=out.message_id, sent=out.references, signers=[deployment.gateway.cert]
    )
    assert checked.is_receipt
    again = await client.post("/v1/as4", data=out.body, headers={"Content-Type": out.content_type})
    assert again.headers["X-Gateway-Outcome"] == "duplicate"
    assert await again.read() == receipt
    await inbox.wait_for(1)
    assert len(inbox.received) == 1
