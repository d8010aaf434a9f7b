"""Inspection results with images over AS4 (docs/AS4.md, "Images"): an HTTP partner's images delivered to an AS4
receiver as signed (and encrypted) attachments streamed from the image store, and an AS4 partner's images
received part by part into the store and delivered to an HTTP receiver; tampered, missing and extra parts refused
with nothing stored and nothing forwarded. Real RabbitMQ, real keys, real HTTP on both sides."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.as4 import constants as c
from gateway.as4 import mime, signals
from gateway.as4.message import (
    Attachment,
    Expectation,
    Limits,
    Party,
    Payload,
    Received,
    StreamedOutgoing,
    UserMessage,
    build,
    build_streamed,
    new_message_id,
    parse,
)
from gateway.images.store import FileImageStore
from gateway.runtime import RUNTIME
from gateway.store.base import Status
from tests.as4 import support
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, make_deployment, signed, wait_until
from tests.images.support import FakeImage, ImageInbox, content_type, image_part, inspection_envelope, multipart_body

W = "{urn:customs-gateway:wco:1}"
ACTION = "InspectionResult"
PEER_LIMITS = "\n[images]\nmax_image_bytes = 4194304\nmax_images = 2\n"  # peer-ap's own, below the gateway's
AS4_TOML = f'[as4]\nparty_id = "GW-AP"\nparty_type = "{support.UNREGISTERED}"\n\n[images]\ndir = "state/images"\n'
KB = 1024


def peer_table(encryption_required: bool) -> str:
    return "\n".join(
        [
            "[as4]",
            'party_id = "PEER-AP"',
            f'party_type = "{support.UNREGISTERED}"',
            f"encryption_required = {'true' if encryption_required else 'false'}",
            'encryption_certificate = "certs/peer-ap.crt"',
            "[as4.messages.inspection-result]",
            f'service = "{support.SERVICE}"',
            'service_type = "urn:customs-gateway:service-type"',
            f'action = "{ACTION}"',
        ]
    )


@dataclass
class As4Receiver:
    """An AS4 access point receiving what the gateway sends: the whole message checked by the AS4 core (signature
    over eb:Messaging, the Body and every attachment, decryption), then each image checked here against the
    gateway-signed inspection result, and a receipt signed with the peer's key."""

    encrypted: bool
    received: list[tuple[dict[str, str], Received]] = field(default_factory=list)  # (part types, message)
    credentials: object = None
    gateway_cert: object = None

    streaming: support.StreamingAs4Inbox | None = None  # set: that receiver answers instead
    before_first: Callable[[], None] | None = None  # set: called, and the first attempt answered 503

    async def handle(self, request: web.Request) -> web.Response:
        if self.before_first is not None:
            self.before_first()
            self.before_first = None
            return web.Response(status=503, text="receiver outage")
        if self.streaming is not None:
            return await self.streaming.handle(request)
        body = await request.read()
        got = parse(
            request.headers["Content-Type"],
            body,
            agreements=lambda um: Expectation("gw", "inspection-result", (self.gateway_cert,), self.encrypted),  # type: ignore[arg-type]
            credentials=self.credentials,  # type: ignore[arg-type]
            limits=Limits(max_payload_bytes=64 * 1024 * 1024),
        )
        types = {
            cid: part.content_type for cid, part in mime.parse(request.headers["Content-Type"], body).parts.items()
        }
        self.received.append((types, got))
        answer = signals.receipt(got.user_message.message_id, got.references, self.credentials)  # type: ignore[arg-type]
        return web.Response(body=answer, content_type="application/soap+xml")


@pytest.fixture(params=[False, True], ids=["signed", "signed+encrypted"])
async def exchange(request, tmp_path, amqp, aiohttp_client):
    encrypted: bool = request.param
    receiver = As4Receiver(encrypted)
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/as4", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec(
                "cn-nsw",
                url="http://127.0.0.1:9/later",
                sends=["inspection-result", "receipt"],
                receives=["inspection-result", "receipt"],
            ),
            PartnerSpec(
                "peer-ap",
                sends=["inspection-result"],
                receives=["inspection-result"],
                extra=peer_table(encrypted) + PEER_LIMITS,
            ),
        ],
        extra_toml=AS4_TOML,
    )
    peer_file = deployment.folder / "partners" / "peer-ap.toml"
    peer_file.write_text(
        peer_file.read_text() + f'\n[delivery]\ntransport = "as4"\nurl = "{server.make_url("/as4")}"\n'
    )
    receiver.credentials = support.credentials(deployment, "peer-ap")
    receiver.gateway_cert = deployment.gateway.cert
    image_inbox = ImageInbox(deployment.gateway.cert)
    inbox_app = web.Application()
    inbox_app.router.add_post("/inbox", image_inbox.handle)
    inbox_server = TestServer(inbox_app, host="127.0.0.1")
    await inbox_server.start_server()
    image_inbox.url = str(inbox_server.make_url("/inbox"))
    cn_file = deployment.folder / "partners" / "cn-nsw.toml"
    cn_file.write_text(cn_file.read_text().replace("http://127.0.0.1:9/later", image_inbox.url))
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, receiver, image_inbox, encrypted
    await client.close()
    await server.close()
    await inbox_server.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "peer-ap"])


def _stored(client) -> list[str]:
    store = client.server.app[RUNTIME].images
    assert isinstance(store, FileImageStore)
    return sorted(p.name for p in (store.root / "sha256").rglob("*") if p.is_file())


def _staging(client) -> list[str]:
    store = client.server.app[RUNTIME].images
    assert isinstance(store, FileImageStore)
    return sorted(p.name for p in (store.root / "staging").iterdir())


def _images() -> tuple[FakeImage, FakeImage]:
    return FakeImage("xray-1", "image/png", 700 * KB + 3), FakeImage("photo-1", "image/jpeg", 300 * KB + 1)


async def post_inspection(client, deployment, images: list[FakeImage]) -> str:
    """cn-nsw's inspection result for peer-ap with ``images``, over HTTP multipart/related: its gateway id (202)."""
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "peer-ap", images))
    boundary = f"b-{uuid.uuid4().hex}"
    response = await client.post(
        "/v1/partners/cn-nsw/messages",
        data=multipart_body(message, [image_part(image) for image in images], boundary),
        headers={"Content-Type": content_type(boundary)},
    )
    assert response.status == 202, await response.text()
    return str(response.headers["X-Gateway-Message-Id"])


async def wait_for_status(client, gateway_id: str, status: Status, what: str) -> None:
    store = client.server.app[RUNTIME].store

    async def reached() -> bool:
        record = await store.get(gateway_id)
        return record is not None and record.status == status

    await wait_until(reached, what)


async def test_images_from_an_http_partner_reach_an_as4_receiver_as_signed_attachments(exchange):
    deployment, client, receiver, _, encrypted = exchange
    xray, photo = _images()
    gateway_id = await post_inspection(client, deployment, [xray, photo])
    await wait_for_status(client, gateway_id, Status.DELIVERED, "the AS4 delivery with images")
    ((sent_type, got),) = receiver.received
    assert got.encrypted is encrypted
    # eb:PayloadInfo: the business document (gzip) first, then one part per image under its Image ID, as it is.
    soap = etree.fromstring(got.soap)
    infos = soap.findall(".//{*}PayloadInfo/{*}PartInfo")
    props = [{p.get("name"): p.text for p in i.iterfind(".//{*}Property")} for i in infos]
    assert [i.get("href") for i in infos] == ["cid:payload@gateway", "cid:xray-1", "cid:photo-1"]
    assert props == [
        {"MimeType": "application/xml", "CompressionType": c.GZIP},
        {"MimeType": "image/png"},
        {"MimeType": "image/jpeg"},
    ]
    # The receiver checks the images against the inspection result the gateway signed (its own certificate).
    document = XMLVerifier().verify(got.payloads[0].data, x509_cert=deployment.gateway.cert).signed_xml
    manifest = {i.findtext(f"{W}ID"): i.findtext(f"{W}DigestValue") for i in document.iter(f"{W}Image")}
    images = {p.cid: p for p in got.payloads[1:]}
    assert set(images) == {"xray-1", "photo-1"}
    for image in (xray, photo):
        data = images[image.id].data
        assert len(data) == image.size
        assert base64.b64encode(hashlib.sha256(data).digest()).decode() == manifest[image.id]
        assert images[image.id].mime_type == image.media_type
    # The AS4 signature's reference of each image is the image's own digest (SwA: binary octets as they are).
    by_uri = {r.uri: r.digest_value for r in got.references}
    assert by_uri["cid:xray-1"] == manifest["xray-1"]
    assert by_uri["cid:photo-1"] == manifest["photo-1"]
    kinds = [e.kind for e in await client.server.app[RUNTIME].store.evidence(gateway_id)]
    assert kinds == ["as4-message-sent", "as4-receipt-received"]
    # Encrypted attachments go as application/octet-stream (the MimeType is in xenc:EncryptedData), plain ones as
    # what they are.
    assert sent_type == {
        "payload@gateway": "application/octet-stream" if encrypted else c.GZIP,
        "xray-1": "application/octet-stream" if encrypted else "image/png",
        "photo-1": "application/octet-stream" if encrypted else "image/jpeg",
    }


async def test_images_are_streamed_again_from_the_store_after_a_receiver_outage(exchange):
    """A receiver that reads each image while it streams (never whole) answers 503 to the first attempt: the retry
    builds the message again and streams the images from the store again; the receiver verifies every digest."""
    deployment, client, receiver, _, encrypted = exchange
    receiver.streaming = support.StreamingAs4Inbox(
        support.credentials(deployment, "peer-ap"), deployment.gateway.cert, outage=True
    )
    xray = FakeImage("xray-1", "image/tiff", 6 * 1024 * KB + 5)
    photo = FakeImage("photo-1", "image/jpeg", 2 * 1024 * KB)
    gateway_id = await post_inspection(client, deployment, [xray, photo])
    await receiver.streaming.wait_for(1)
    (got,) = receiver.streaming.received
    assert got.encrypted is encrypted
    assert got.verified == {"xray-1": True, "photo-1": True}
    assert got.images == {
        "xray-1": ("image/tiff", xray.size, xray.sha256.hex()),
        "photo-1": ("image/jpeg", photo.size, photo.sha256.hex()),
    }
    assert len(receiver.streaming.refused) == 1  # the first attempt was refused, this is the retry
    await wait_for_status(client, gateway_id, Status.DELIVERED, "the retried AS4 delivery")
    store = client.server.app[RUNTIME].store
    (delivery,) = await store.deliveries(gateway_id)
    assert delivery.attempts == 2


async def test_an_image_whose_stored_bytes_changed_stops_the_as4_delivery(exchange):
    """Between two attempts the store's copy of an image changes (same size): the retry streams it, hashes it on
    the way, and stops the body at its end; the delivery is dead-lettered naming the image, not retried."""
    deployment, client, receiver, _, _ = exchange
    receiver.streaming = support.StreamingAs4Inbox(support.credentials(deployment, "peer-ap"), deployment.gateway.cert)
    xray, photo = _images()
    store = client.server.app[RUNTIME].images
    assert isinstance(store, FileImageStore)

    def corrupt() -> None:
        path = store.blob(xray.sha256.hex())
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))

    receiver.before_first = corrupt
    gateway_id = await post_inspection(client, deployment, [xray, photo])
    await wait_for_status(client, gateway_id, Status.FAILED, "the dead-lettered delivery")
    records = client.server.app[RUNTIME].store
    (delivery,) = await records.deliveries(gateway_id)
    assert "xray-1" in (delivery.reason or ""), delivery.reason
    assert "do not match" in (delivery.reason or ""), delivery.reason
    assert delivery.attempts == 2  # the outage, then the corrupt image: not retried again
    assert receiver.streaming.received == []  # the receiver never got a whole message


# -- AS4 partner -> HTTP receiver -------------------------------------------------------------------------------


async def _blocks(image: FakeImage) -> AsyncIterator[bytes]:
    for block in image.blocks():
        yield block
        await asyncio.sleep(0)


def _peer_message(
    deployment, images: list[FakeImage], *, encrypted: bool, attach: list[FakeImage] | None = None
) -> StreamedOutgoing:
    """What an AS4 partner sends: the inspection result (signed by peer-ap) and ``attach`` (default ``images``)."""
    document = signed(deployment.partners["peer-ap"], inspection_envelope("peer-ap", "cn-nsw", images))
    um = UserMessage(
        message_id=new_message_id("peer"),
        from_party=Party("PEER-AP", support.UNREGISTERED),
        to_party=Party("GW-AP", support.UNREGISTERED, c.RESPONDER),
        service=support.SERVICE,
        service_type="urn:customs-gateway:service-type",
        action=ACTION,
        conversation_id="c-1",
    )
    return build_streamed(
        um,
        [Payload("result@peer", document)],
        [
            Attachment(i.id, i.media_type, i.size, i.sha256.hex(), _blocks(i))
            for i in (images if attach is None else attach)
        ],
        support.credentials(deployment, "peer-ap"),
        encrypt_for=deployment.gateway.cert if encrypted else None,
    )


async def _send(client, out: StreamedOutgoing) -> tuple[str, bytes]:
    response = await client.post(
        "/v1/as4", data=out.body, headers={"Content-Type": out.content_type, "Content-Length": str(out.length)}
    )
    assert response.status == 200
    return response.headers["X-Gateway-Outcome"], await response.read()


async def _collect(out: StreamedOutgoing) -> bytes:
    return b"".join([chunk async for chunk in out.body])


def _error(answer: bytes) -> tuple[str | None, str]:
    error = etree.fromstring(answer).find(".//{*}SignalMessage/{*}Error")
    assert error is not None, answer
    return error.get("errorCode"), error.findtext("{*}ErrorDetail") or ""


async def test_images_from_an_as4_partner_reach_an_http_receiver_with_digests_verified(exchange):
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    out = _peer_message(deployment, [xray, photo], encrypted=encrypted)
    outcome, answer = await _send(client, out)
    assert outcome == "accepted", answer
    # The receipt is signed by the gateway and acknowledges every reference sent, the images' too.
    checked = signals.check(
        mime.SOAP_TYPE, answer, sent_message_id=out.message_id, sent=out.references, signers=[deployment.gateway.cert]
    )
    assert checked.is_receipt
    assert {r.uri for r in out.references} >= {"cid:xray-1", "cid:photo-1"}
    assert _stored(client) == sorted([xray.sha256.hex(), photo.sha256.hex()])
    await image_inbox.wait_for(1)
    delivered = image_inbox.received[0]
    assert delivered.headers["X-Sender"] == "peer-ap"
    assert delivered.verified == {"xray-1": True, "photo-1": True}
    assert delivered.images == {
        "xray-1": ("image/png", xray.size, xray.sha256.hex()),
        "photo-1": ("image/jpeg", photo.size, photo.sha256.hex()),
    }


async def _refused(client, image_inbox, content_type_: str, body: bytes | AsyncIterator[bytes]) -> tuple[str, str]:
    data = io.BytesIO(body) if isinstance(body, bytes) else body
    response = await client.post("/v1/as4", data=data, headers={"Content-Type": content_type_})
    assert response.status == 200
    code, detail = _error(await response.read())
    assert response.headers["X-Gateway-Outcome"] == code
    assert _stored(client) == []  # nothing stored for good
    assert _staging(client) == []  # nor left half-written
    await asyncio.sleep(0.3)
    assert image_inbox.received == []  # nothing forwarded
    return code or "", detail


async def test_a_tampered_image_attachment_is_refused(exchange):
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    whole = _peer_message(deployment, [xray, photo], encrypted=encrypted)
    parts = mime.parse(whole.content_type, await _collect(whole))
    sent = bytearray(parts.parts["xray-1"].data)  # as sent: the ciphertext when encrypted
    sent[5000] ^= 1
    spoiled = [
        mime.Part(p.content_id, p.content_type, bytes(sent) if cid == "xray-1" else p.data)
        for cid, p in parts.parts.items()
    ]
    code, detail = await _refused(client, image_inbox, *mime.build(parts.soap, spoiled))
    if encrypted:  # the GCM tag does not authenticate the altered ciphertext
        assert code == "EBMS:0102", detail
    else:  # its bytes are not the ones both signatures give it
        assert code == "EBMS:0004", detail
        assert "image-invalid" in detail
        assert "SHA-256 digest mismatch" in detail
        assert "part 3 (Content-ID <xray-1>)" in detail  # MIME part 3: after the envelope and the document


async def test_a_missing_or_an_extra_image_part_is_refused(exchange):
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    whole = _peer_message(deployment, [xray, photo], encrypted=encrypted)
    parts = mime.parse(whole.content_type, await _collect(whole))
    # The photo is declared (PayloadInfo, the signature, the inspection result) but not attached.
    kept = [p for cid, p in parts.parts.items() if cid != "photo-1"]
    code, detail = await _refused(client, image_inbox, *mime.build(parts.soap, kept))
    assert code == "EBMS:0011", detail
    assert "photo-1" in detail
    # A part nobody declared, after the images.
    extra = [*parts.parts.values(), mime.Part("stowaway", "image/png", xray.data())]
    code, detail = await _refused(client, image_inbox, *mime.build(parts.soap, extra))
    assert code == "EBMS:0011", detail
    assert "stowaway" in detail


async def test_an_image_signed_for_other_bytes_than_the_inspection_result_names_is_refused(exchange):
    """The AS4 signature covers an image that is not the one the signed inspection result names (same ID)."""
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    other = FakeImage("xray-1", "image/png", xray.size)
    out = _peer_message(deployment, [xray, photo], encrypted=encrypted, attach=[other, photo])
    code, detail = await _refused(client, image_inbox, out.content_type, out.body)
    assert code == "EBMS:0004", detail
    assert "transport signature" in detail


async def _cut_short(deployment, encrypted: bool) -> tuple[str, bytes]:
    xray, photo = _images()
    out = _peer_message(deployment, [xray, photo], encrypted=encrypted)
    return out.content_type, (await _collect(out))[:-2000]  # the body ends inside the last image


async def _too_many(deployment, encrypted: bool) -> tuple[str, bytes]:
    images = [FakeImage(f"img-{n}", "image/png", 20 * KB) for n in range(3)]
    out = _peer_message(deployment, images, encrypted=encrypted)
    return out.content_type, await _collect(out)


async def _too_big(deployment, encrypted: bool) -> tuple[str, bytes]:
    out = _peer_message(deployment, [FakeImage("xray-1", "image/png", 4 * 1024 * KB + 1)], encrypted=encrypted)
    return out.content_type, await _collect(out)


async def _wrong_magic(deployment, encrypted: bool) -> tuple[str, bytes]:
    liar = FakeImage("xray-1", "image/png", 50 * KB, bytes_as="image/jpeg")
    out = _peer_message(deployment, [liar], encrypted=encrypted)
    return out.content_type, await _collect(out)


BAD_PARTS = {
    "an image part cut short": (_cut_short, "EBMS:0009", "malformed-multipart"),
    "more images than the partner may send": (_too_many, "EBMS:0103", "at most 2"),
    "an image over the partner's size limit": (_too_big, "EBMS:0103", "at most 4194304 bytes"),
    "first bytes that are not the media type": (_wrong_magic, "EBMS:0004", "first bytes are image/jpeg"),
}


@pytest.mark.parametrize("case", list(BAD_PARTS))
async def test_bad_image_parts_get_their_ebms_error(exchange, case):
    deployment, client, _, image_inbox, encrypted = exchange
    make, expected, says = BAD_PARTS[case]
    code, detail = await _refused(client, image_inbox, *await make(deployment, encrypted))
    assert code == expected, detail
    assert says in detail


# -- images gzip-compressed by the sender (an access point whose P-Mode compresses every payload) ----------------


def _compressed_message(deployment, images: list[FakeImage], encrypted: bool, data: dict[str, bytes] | None = None):
    """What such an access point sends: every payload gzip-compressed (CompressionType), the images too."""
    document = signed(deployment.partners["peer-ap"], inspection_envelope("peer-ap", "cn-nsw", images))
    um = UserMessage(
        message_id=new_message_id("peer"),
        from_party=Party("PEER-AP", support.UNREGISTERED),
        to_party=Party("GW-AP", support.UNREGISTERED, c.RESPONDER),
        service=support.SERVICE,
        service_type="urn:customs-gateway:service-type",
        action=ACTION,
        conversation_id="c-1",
    )
    payloads = [Payload("result@peer", document)] + [
        Payload(i.id, (data or {}).get(i.id) or i.data(), i.media_type) for i in images
    ]
    return build(
        um,
        payloads,
        support.credentials(deployment, "peer-ap"),
        encrypt_for=deployment.gateway.cert if encrypted else None,
    )


async def test_gzip_compressed_images_from_an_as4_partner_are_inflated_while_read(exchange):
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    out = _compressed_message(deployment, [xray, photo], encrypted)
    soap = mime.parse(out.content_type, out.body).soap
    assert soap.count(c.GZIP.encode()) >= 3  # the document and both images are marked compressed
    response = await client.post("/v1/as4", data=io.BytesIO(out.body), headers={"Content-Type": out.content_type})
    answer = await response.read()
    assert response.headers["X-Gateway-Outcome"] == "accepted", answer
    checked = signals.check(
        mime.SOAP_TYPE, answer, sent_message_id=out.message_id, sent=out.references, signers=[deployment.gateway.cert]
    )
    assert checked.is_receipt
    assert _stored(client) == sorted([xray.sha256.hex(), photo.sha256.hex()])
    await image_inbox.wait_for(1)
    assert image_inbox.received[0].verified == {"xray-1": True, "photo-1": True}


async def test_a_compressed_image_altered_or_inflating_past_its_size_is_refused(exchange):
    deployment, client, _, image_inbox, encrypted = exchange
    xray, photo = _images()
    out = _compressed_message(deployment, [xray, photo], encrypted)
    parts = mime.parse(out.content_type, out.body)
    sent = bytearray(parts.parts["xray-1"].data)
    # Plain: a bit of the gzip header's MTIME (ignored when inflating: the same image comes out), so only the
    # AS4 signature's digest over the compressed bytes can tell. Encrypted: a bit of the ciphertext.
    sent[5 if not encrypted else len(sent) // 2] ^= 1
    spoiled = [
        mime.Part(cid, p.content_type, bytes(sent) if cid == "xray-1" else p.data) for cid, p in parts.parts.items()
    ]
    code, detail = await _refused(client, image_inbox, *mime.build(parts.soap, spoiled))
    assert code == ("EBMS:0102" if encrypted else "EBMS:0101"), detail
    # A bomb: 40 MB of zeros behind a PNG signature, where the inspection result says 700 KB.
    bomb = b"\x89PNG\r\n\x1a\n" + bytes(40 * 1024 * 1024)
    out = _compressed_message(deployment, [xray, photo], encrypted, {"xray-1": bomb})
    code, detail = await _refused(client, image_inbox, out.content_type, out.body)
    assert code == "EBMS:0004", detail
    assert "longer than" in detail


async def test_an_image_left_unencrypted_where_the_partner_must_encrypt_is_refused(exchange):
    """Everything else encrypted, one image's xenc:EncryptedData taken out (the signature covers eb:Messaging and
    the Body, not the Security header) and the image sent in clear: a downgrade the policy refuses."""
    deployment, client, _, image_inbox, encrypted = exchange
    if not encrypted:
        pytest.skip("peer-ap must encrypt only in the signed+encrypted variant")
    xray, photo = _images()
    parts = mime.parse(*(await _content(_peer_message(deployment, [xray, photo], encrypted=True))))
    root = etree.fromstring(parts.soap)
    for data in root.iter("{http://www.w3.org/2001/04/xmlenc#}EncryptedData"):
        if data.find(".//{*}CipherReference").get("URI") == "cid:xray-1":
            for ref in root.iter("{http://www.w3.org/2001/04/xmlenc#}DataReference"):
                if ref.get("URI") == "#" + data.get("Id"):
                    ref.getparent().remove(ref)
            data.getparent().remove(data)
    clear = [mime.Part(cid, "image/png", xray.data()) if cid == "xray-1" else p for cid, p in parts.parts.items()]
    code, detail = await _refused(client, image_inbox, *mime.build(etree.tostring(root), clear))
    assert code == "EBMS:0103", detail
    assert "xray-1" in detail


async def _content(out: StreamedOutgoing) -> tuple[str, bytes]:
    return out.content_type, await _collect(out)
