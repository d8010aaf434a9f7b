"""Inspection results with images through a real gateway (HTTP in and out, RabbitMQ, signatures): delivered as
multipart/related with digests verified by the receiver, refused part by part (the bad-part table) with nothing
stored and nothing forwarded, retried through a receiver outage, removed with the message by retention."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.images.store import FileImageStore
from gateway.runtime import RUNTIME
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, make_deployment, signed
from tests.images.support import (
    FakeImage,
    ImageInbox,
    Part,
    content_type,
    image_part,
    inspection_envelope,
    multipart_body,
)

TYPES = ["inspection-result", "risk-alert", "receipt"]
MB = 1024 * 1024


@pytest.fixture
async def flow(tmp_path, amqp, aiohttp_client):
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec(
                "cn-nsw",
                url="http://127.0.0.1:9/never",
                sends=TYPES,
                receives=["receipt"],
                extra="[images]\nmax_image_bytes = 8388608\nmax_images = 3\n",
            ),
            PartnerSpec("nl-customs", url="http://127.0.0.1:9/later", sends=TYPES, receives=TYPES),
        ],
        extra_toml='[images]\ndir = "state/images"\n',
    )
    inbox = ImageInbox(deployment.gateway.cert)
    app = web.Application()
    app.router.add_post("/inbox", inbox.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    inbox.url = str(server.make_url("/inbox"))
    (deployment.folder / "partners" / "nl-customs.toml").write_text(
        (deployment.folder / "partners" / "nl-customs.toml").read_text().replace("http://127.0.0.1:9/later", inbox.url)
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await server.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])


def _store(client) -> FileImageStore:
    store = client.server.app[RUNTIME].images
    assert isinstance(store, FileImageStore)
    return store


def _stored(store: FileImageStore) -> list[str]:
    return sorted(p.name for p in (store.root / "sha256").rglob("*") if p.is_file())


async def _post(client, message: bytes, parts: list[Part], *, close: bool = True):
    boundary = f"b-{uuid.uuid4().hex}"
    return await client.post(
        "/v1/partners/cn-nsw/messages",
        data=multipart_body(message, parts, boundary, close=close),
        headers={"Content-Type": content_type(boundary)},
    )


async def _status(deployment, client, gateway_id: str, want: str) -> dict:
    token = deployment.settings().resolve(deployment.settings().admin.token_file).read_text().strip()
    record: dict = {}
    for _ in range(200):
        answer = await client.get(f"/v1/admin/messages/{gateway_id}", headers={"Authorization": f"Bearer {token}"})
        record = await answer.json()
        if record["status"] == want:
            break
        await __import__("asyncio").sleep(0.05)
    return record


async def test_inspection_result_with_two_images_is_delivered_with_digests_verified(flow):
    deployment, client, inbox = flow
    xray = FakeImage("xray-1", "image/png", 3 * MB + 17)
    photo = FakeImage("photo-1", "image/jpeg", 2 * MB + 5, type_code="photo")
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [xray, photo]))

    response = await _post(client, message, [image_part(xray), image_part(photo)])
    assert response.status == 202, await response.text()
    gateway_id = response.headers["X-Gateway-Message-Id"]
    # Stored under their digests, kept for the message.
    assert _stored(_store(client)) == sorted([xray.sha256.hex(), photo.sha256.hex()])

    await inbox.wait_for(1)
    delivered = inbox.received[0]
    assert delivered.headers["Content-Type"].startswith("multipart/related")
    assert delivered.headers["X-Gateway-Message-Id"] == gateway_id
    assert delivered.verified == {"xray-1": True, "photo-1": True}
    assert delivered.images == {
        "xray-1": ("image/png", xray.size, xray.sha256.hex()),
        "photo-1": ("image/jpeg", photo.size, photo.sha256.hex()),
    }
    verified = XMLVerifier().verify(delivered.message, x509_cert=deployment.gateway.cert).signed_xml
    assert verified.findtext(".//{urn:customs-gateway:wco:1}Outcome/{urn:customs-gateway:wco:1}Code") == "seized"
    record = await _status(deployment, client, gateway_id, "delivered")
    assert record["status"] == "delivered"
    assert "2 images" in str(record["history"])

    # Retention: the images go with the message.
    runtime = client.server.app[RUNTIME]
    assert await runtime.images.expire(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)) == 2
    assert _stored(_store(client)) == []


async def test_receiver_outage_then_retry_delivers_the_images(flow):
    deployment, client, inbox = flow
    xray = FakeImage("xray-1", "image/tiff", MB + 3)
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [xray]))
    inbox.status = 503
    response = await _post(client, message, [image_part(xray)])
    assert response.status == 202, await response.text()
    gateway_id = response.headers["X-Gateway-Message-Id"]
    record = await _status(deployment, client, gateway_id, "retrying")
    assert record["status"] == "retrying"
    inbox.status = 200
    await inbox.wait_for(1)
    assert inbox.received[0].verified == {"xray-1": True}
    record = await _status(deployment, client, gateway_id, "delivered")
    assert record["status"] == "delivered"


def _named_twice(a: FakeImage, b: FakeImage) -> list[Part]:
    return [image_part(a), image_part(a)]


# The bad-part table: (case, images named by the signed message, parts sent, close the body, status, code, text)
A = FakeImage("xray-1", "image/png", 300_000)
B = FakeImage("photo-1", "image/jpeg", 200_000, type_code="photo")
OTHER_A = dataclasses.replace(A, seed=b"other bytes")  # same ID, size and type, other content
JPEG_AS_PNG = FakeImage("xray-1", "image/png", 300_000, bytes_as="image/jpeg")
BIG = FakeImage("xray-1", "image/png", 9 * MB)
MANY = [FakeImage(f"img-{n}", "image/png", 1000) for n in range(4)]
BAD_PARTS = [
    ("digest mismatch", [A], [image_part(OTHER_A)], True, 422, "image-invalid",
     "part 2 (Content-ID <xray-1>): SHA-256 digest mismatch"),
    ("truncated part", [A, B], [image_part(A), Part(image_part(B).headers, [B.data()[:50_000]])], False, 400,
     "malformed-multipart", "part 3 (Content-ID <photo-1>) is cut short"),
    ("part not named", [A], [image_part(A), image_part(B)], True, 422, "image-invalid",
     "part 3 (Content-ID <photo-1>) is not an image the message names (its Image IDs: xray-1)"),
    ("magic bytes disagree", [JPEG_AS_PNG], [image_part(JPEG_AS_PNG)], True, 422, "image-invalid",
     "the message says image/png for image 'xray-1', but its first bytes are image/jpeg"),
    ("part Content-Type disagrees", [A], [image_part(A, **{"Content-Type": "image/tiff"})], True, 422,
     "image-invalid", "part 2 (Content-ID <xray-1>): Content-Type 'image/tiff' but the message says image/png"),
    ("image not sent", [A, B], [image_part(A)], True, 422, "image-invalid",
     "the message names image(s) 'photo-1' that were not sent"),
    ("shorter than signed", [A], [Part(image_part(A).headers, [A.data()[:1000]])], True, 422, "image-invalid",
     "part 2 (Content-ID <xray-1>): 1000 bytes, but the message says 300000"),
    ("longer than signed", [A], [Part(image_part(A).headers, [A.data(), b"extra"])], True, 422, "image-invalid",
     "part 2 (Content-ID <xray-1>): longer than the 300000 bytes"),
    ("sent twice", [A], [image_part(A), image_part(A)], True, 422, "image-invalid",
     "part 3 (Content-ID <xray-1>): image 'xray-1' was sent twice"),
    ("image over the partner's limit", [BIG], [image_part(BIG)], True, 413, "too-large",
     "image 'xray-1' is 9437184 bytes (its SizeMeasure); this partner may send at most 8388608"),
    ("more images than the partner's limit", MANY, [image_part(i) for i in MANY], True, 413, "too-large",
     "the message names 4 images; this partner may send at most 3"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("named", "parts", "close", "status", "code", "text"),
    [case[1:] for case in BAD_PARTS],
    ids=[case[0] for case in BAD_PARTS],
)
async def test_bad_part_is_refused_naming_it_nothing_stored_nothing_forwarded(
    flow, named, parts, close, status, code, text
):
    deployment, client, inbox = flow
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", named))
    response = await _post(client, message, parts, close=close)
    receipt = await response.read()
    assert response.status == status, receipt
    assert response.headers["X-Gateway-Outcome"] == code
    verified = XMLVerifier().verify(receipt, x509_cert=deployment.gateway.cert).signed_xml
    description = verified.findtext(".//{urn:customs-gateway:wco:1}Error/{urn:customs-gateway:wco:1}Description")
    assert text in description
    store = _store(client)
    assert _stored(store) == []
    assert list((store.root / "staging").iterdir()) == []
    record = await _status(deployment, client, response.headers["X-Gateway-Message-Id"], "rejected")
    assert record["status"] == "rejected"
    # Nothing forwarded: a good message sent after it is the first (and only) delivery.
    good = FakeImage("xray-1", "image/png", 1000)
    answer = await _post(
        client,
        signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [good])),
        [image_part(good)],
    )
    assert answer.status == 202, await answer.text()
    await inbox.wait_for(1)
    assert len(inbox.received) == 1
    assert inbox.received[0].images == {"xray-1": ("image/png", 1000, good.sha256.hex())}


async def test_a_message_naming_images_sent_as_plain_xml_is_refused(flow):
    deployment, client, _ = flow
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [A]))
    response = await client.post(
        "/v1/partners/cn-nsw/messages", data=message, headers={"Content-Type": "application/xml"}
    )
    assert response.status == 422
    assert "send the message as multipart/related" in await response.text()


@pytest.mark.parametrize("size", ["\u00b2", "1\u00b9", "-5", "0"])
async def test_a_signed_size_that_is_not_a_number_of_bytes_is_schema_invalid(flow, size):
    """The manifest is read before the schema check: a superscript digit passed str.isdigit and int() refused it
    (a 500)."""
    deployment, client, inbox = flow
    root = inspection_envelope("cn-nsw", "nl-customs", [A])
    root.find(".//{urn:customs-gateway:wco:1}SizeMeasure").text = size
    response = await _post(client, signed(deployment.partners["cn-nsw"], root), [image_part(A)])
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "schema-invalid"), await response.text()
    assert "SizeMeasure" in await response.text()
    assert inbox.received == []


async def test_a_tampered_manifest_fails_the_signature_before_any_part_is_read(flow):
    deployment, client, _ = flow
    root = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [A]))
    tampered = etree.fromstring(root)
    digest = tampered.find(".//{urn:customs-gateway:wco:1}DigestValue")
    assert digest is not None
    digest.text = base64.b64encode(OTHER_A.sha256).decode()
    response = await _post(client, etree.tostring(tampered), [image_part(OTHER_A)])
    assert response.status == 401
    assert response.headers["X-Gateway-Outcome"] == "signature-invalid"
    assert _stored(_store(client)) == []


async def test_admin_api_shows_the_inspection_result_and_streams_its_images(flow):
    deployment, client, _ = flow
    xray = FakeImage("xray-1", "image/png", 700_001)
    message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [xray]))
    response = await _post(client, message, [image_part(xray)])
    assert response.status == 202, await response.text()
    gateway_id = response.headers["X-Gateway-Message-Id"]
    token = deployment.settings().resolve(deployment.settings().admin.token_file).read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}

    view = await (await client.get(f"/v1/admin/messages/{gateway_id}/inspection", headers=auth)).json()
    assert view["outcome"] == "seized"
    assert view["images"] == [
        {
            "id": "xray-1",
            "type": "xray",
            "media_type": "image/png",
            "size": 700_001,
            "sha256": xray.sha256.hex(),
            "file_name": "",
            "description": "",
        }
    ]
    image = await client.get(f"/v1/admin/images/{xray.sha256.hex()}", headers=auth)
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert await image.read() == xray.data()
    # Made-up bytes after a PNG signature: no preview, said so.
    preview = await client.get(f"/v1/admin/images/{xray.sha256.hex()}?preview=200", headers=auth)
    assert preview.status == 422
    assert (await preview.json())["error"] == "no-preview"
    for size in ("\u00b2", "1\u00b9", "x", "-20", "8", "5000"):  # a superscript digit passes str.isdigit: was a 500
        refused = await client.get(f"/v1/admin/images/{xray.sha256.hex()}", params={"preview": size}, headers=auth)
        assert refused.status == 400, (size, await refused.text())
        assert "preview" in (await refused.json())["message"]
    assert (await client.get("/v1/admin/images/../../etc", headers=auth)).status in (400, 404)
    assert (await client.get("/v1/admin/images/" + "0" * 64, headers=auth)).status == 404
    assert (await client.get(f"/v1/admin/images/{xray.sha256.hex()}")).status == 401
    other = await client.get("/v1/admin/messages/not-a-message/inspection", headers=auth)
    assert other.status == 404


async def test_images_in_postgresql_are_delivered_and_removed_by_retention(tmp_path, amqp, aiohttp_client):
    """[images] url: the same flow with the images in PostgreSQL (instances sharing one image store)."""
    from tests.store.support import postgres_schema

    async with postgres_schema() as url:
        deployment = make_deployment(
            tmp_path,
            [
                PartnerSpec("cn-nsw", url="http://127.0.0.1:9/never", sends=TYPES, receives=["receipt"]),
                PartnerSpec("nl-customs", url="http://127.0.0.1:9/later", sends=TYPES, receives=TYPES),
            ],
            extra_toml=f'[images]\nurl = "{url}"\n',
        )
        inbox = ImageInbox(deployment.gateway.cert)
        app = web.Application()
        app.router.add_post("/inbox", inbox.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        partner_file = deployment.folder / "partners" / "nl-customs.toml"
        inbox_url = str(server.make_url("/inbox"))
        partner_file.write_text(partner_file.read_text().replace("http://127.0.0.1:9/later", inbox_url))
        client = await aiohttp_client(build_app(deployment.settings()))
        try:
            xray = FakeImage("xray-1", "image/png", 2 * MB + 1)
            photo = FakeImage("photo-1", "image/jpeg", 1_500_000, type_code="photo")
            message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", [xray, photo]))
            response = await _post(client, message, [image_part(xray), image_part(photo)])
            assert response.status == 202, await response.text()
            await inbox.wait_for(1)
            assert inbox.received[0].verified == {"xray-1": True, "photo-1": True}
            images = client.server.app[RUNTIME].images
            assert await images.size(xray.sha256.hex()) == xray.size
            assert await images.expire(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)) == 2
            assert await images.size(xray.sha256.hex()) is None
        finally:
            await client.close()
            await server.close()
            await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])


async def test_gateway_send_with_images_fills_in_digests_and_sends_multipart(flow, tmp_path):
    """``gateway send --images DIR``: the files named by each Image's FileName are measured and hashed into the
    message before it is signed, then sent with it as multipart/related (the example and its two images)."""
    import subprocess
    import sys

    from tests.helpers import EXAMPLES

    deployment, client, inbox = flow
    # What the tool fills in starts wrong: the X-ray's size and digest are placeholders.
    example = (EXAMPLES / "inspection-result.xml").read_text()
    example = example.replace("<SizeMeasure>1174</SizeMeasure>", "<SizeMeasure>1</SizeMeasure>")
    example = example.replace("OEkpU4elHJ1s0bhjg2Yvau+Ke+Cv8Ia0X0Px7rOs54U=", "A" * 43 + "=")
    message = tmp_path / "inspection.xml"
    message.write_text(example)
    sender = deployment.partners["cn-nsw"]
    url = str(client.make_url("/v1/partners/cn-nsw/messages"))
    command = [
        sys.executable, "-m", "gateway", "send", "--fresh", "--as", "cn-nsw", "--to", "nl-customs",
        "--key", str(sender.key_path), "--cert", str(sender.cert_path), str(message),
        "--images", str(EXAMPLES / "images"), "--url", url,
    ]  # fmt: skip
    done = await __import__("asyncio").to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("HTTP 202")
    await inbox.wait_for(1)
    assert inbox.received[0].verified == {"xray-1": True, "photo-1": True}
    photo = (EXAMPLES / "images" / "SH2200-PH-20261126-0042.png").read_bytes()
    assert inbox.received[0].images["photo-1"][1] == len(photo)
