"""The demo's simulated eDelivery access point (de-customs): it pushes risk alerts to ``POST /v1/as4`` and
receives the gateway's AS4 deliveries, answering each with its signed receipt. It uses the gateway's own AS4
core to play the partner; the interop tests play it with an independent implementation (tests/as4/peer.py)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from yarl import URL

from gateway.as4 import constants as c
from gateway.as4 import signals
from gateway.as4.errors import EbmsError
from gateway.as4.message import Expectation, Party, Payload, UserMessage, build, new_message_id, parse
from gateway.as4.wss import Credentials
from gateway.config import Settings
from gateway.partners import load_partners

ENV = "{urn:customs-gateway:envelope:1}"
WCO = "{urn:customs-gateway:wco:1}"


def say(text: str) -> None:
    print(f"{dt.datetime.now():%H:%M:%S}  {text}", flush=True)


def _credentials(key: object, certificate: x509.Certificate) -> Credentials:
    assert isinstance(key, rsa.RSAPrivateKey), "the demo's AS4 partner has an RSA key"
    return Credentials(key, certificate)


async def send(
    settings: Settings,
    partner_id: str,
    key: object,
    certificate: x509.Certificate,
    document: bytes,
    gateway_cert: x509.Certificate,
) -> None:
    assert settings.as4 is not None, "the example gateway.toml has an [as4] section"
    partner = load_partners(settings.partners_dir)[partner_id]
    as4 = partner.spec.as4
    assert as4 is not None
    collaboration = as4.messages["risk-alert"]
    um = UserMessage(
        message_id=new_message_id(partner_id),
        from_party=Party(as4.party_id, as4.party_type),
        to_party=Party(settings.as4.party_id, settings.as4.party_type, c.RESPONDER),
        service=collaboration.service,
        service_type=collaboration.service_type,
        action=collaboration.action,
        conversation_id=new_message_id(partner_id),
    )
    out = build(
        um, [Payload("alert@" + partner_id, document)], _credentials(key, certificate), encrypt_for=gateway_cert
    )
    message_id = etree.fromstring(document).findtext(f"{ENV}Header/{ENV}MessageID")
    say(
        f"→ {partner_id}'s access point sends risk-alert {message_id} as AS4 UserMessage {um.message_id} "
        "(gzip, signed, encrypted for the gateway) to /v1/as4"
    )
    url = f"http://{settings.http.host}:{settings.http.port}/v1/as4"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=out.body, headers={"Content-Type": out.content_type}) as response,
        ):
            answer, content_type = await response.read(), response.headers.get("Content-Type", "")
    except (aiohttp.ClientError, OSError) as exc:
        say(f"   ✗ the gateway did not answer: {exc}")
        return
    try:
        signal = signals.check(
            content_type, answer, sent_message_id=um.message_id, sent=out.references, signers=[gateway_cert]
        )
    except EbmsError as exc:
        say(f"   ✗ the gateway's answer is not a valid receipt: {exc}")
        return
    if signal.errors:
        error = signal.errors[0]
        say(f"   ✗ gateway answered with ebMS error {error.code} {error.short}: {error.detail}")
    else:
        say(
            f"   ✓ gateway answered with a signed AS4 receipt acknowledging {len(out.references)} digests "
            "(eb:Messaging, Body, payload): verified"
        )


def images_of(document: etree._Element, attachments: tuple[Payload, ...]) -> str:
    """What the demo says of an inspection result's image attachments: each one's SHA-256 against the
    DigestValue the document gives it (the AS4 signature covered both)."""
    if not attachments:
        return ""
    named = {i.findtext(f"{WCO}ID"): i.findtext(f"{WCO}DigestValue") for i in document.iter(f"{WCO}Image")}
    checked = []
    for attachment in attachments:
        digest = base64.b64encode(hashlib.sha256(attachment.data).digest()).decode()
        verdict = "digest verified" if named.get(attachment.cid) == digest else "DIGEST MISMATCH"
        checked.append(f"{attachment.cid}: {len(attachment.data)} bytes, {verdict}")
    return f" with {len(attachments)} image attachments ({', '.join(checked)})"


async def start_inbox(
    settings: Settings,
    partner_id: str,
    url: str,
    key: object,
    certificate: x509.Certificate,
    gateway_cert: x509.Certificate,
) -> web.AppRunner:
    credentials = _credentials(key, certificate)

    def agreements(um: UserMessage) -> Expectation:
        return Expectation("cn-customs", "risk-alert", (gateway_cert,), encryption_required=True)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            received = parse(
                request.headers.get("Content-Type", ""), body, agreements=agreements, credentials=credentials
            )
        except EbmsError as exc:
            say(f"   ✗ {partner_id}'s access point refused an AS4 message: {exc}")
            return web.Response(body=signals.error(exc, credentials), content_type="application/soap+xml")
        document = etree.fromstring(received.payloads[0].data)
        header = document.find(f"{ENV}Header")
        assert header is not None
        say(
            f"   ⇒ {partner_id}'s access point received {header.findtext(f'{ENV}MessageType')} "
            f"{header.findtext(f'{ENV}MessageID')} from {header.findtext(f'{ENV}Sender')} over AS4 "
            f"(decrypted, signature of the gateway verified){images_of(document, received.payloads[1:])}, "
            "answered with its signed receipt"
        )
        receipt = signals.receipt(received.user_message.message_id, received.references, credentials)
        return web.Response(body=receipt, content_type="application/soap+xml")

    app = web.Application()
    parsed = URL(url)
    app.router.add_post(parsed.path, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parsed.host or "127.0.0.1", parsed.port or 80).start()
    return runner
