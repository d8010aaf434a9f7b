"""``gateway demo`` (what ``make run`` shows): the gateway with the example configuration and three simulated
partners, the Netherlands customs administration and the national single window over the gateway's HTTP API,
and the German customs administration's eDelivery access point over AS4, sending each other risk alerts
through it. Each step of a message's path is printed as it happens."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509
from lxml import etree
from signxml.verifier import VerifyResult, XMLVerifier
from yarl import URL

from gateway import demo_as4
from gateway.config import Settings, config_path_from, load_settings
from gateway.formats import default_adapters
from gateway.partners import load_partners
from gateway.security.certificates import (
    PrivateKey,
    load_certificate,
    load_private_key,
    new_key_and_certificate,
    write_key_and_certificate,
)
from gateway.security.signatures import Signer
from gateway.security.xml import parse_xml, to_bytes
from gateway.sender import fill_images, post, post_multipart
from gateway.server import serve

ENV = "{urn:customs-gateway:envelope:1}"
WCO = "{urn:customs-gateway:wco:1}"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Script:
    """One message the demo sends each round: who, from which example, to whom (None: as in the example)."""

    partner: str
    example: str
    story: str
    receiver: str | None = None
    as4: bool = False
    images: bool = False  # an inspection result: its image files (examples/images) go with it


SCRIPTS = (
    Script("nl-customs", "risk-alert.xml", "infringing branded toys, false brand declarations"),
    Script("cn-nsw", "risk-alert-drugs.xml", "prohibited drugs found on a scan image"),
    Script("de-customs", "risk-alert.xml", "the same toys seen at Hamburg", receiver="cn-customs", as4=True),
    Script("cn-nsw", "risk-alert-drugs.xml", "the drugs finding, for Germany too", receiver="de-customs"),
    Script(
        "cn-nsw",
        "inspection-result.xml",
        "the drugs finding's X-ray scan and photograph, for Germany over AS4",
        receiver="de-customs",
        images=True,
    ),
)
AS4_PARTNER = "de-customs"


def say(text: str) -> None:
    print(f"{dt.datetime.now():%H:%M:%S}  {text}", flush=True)


@dataclass
class SimulatedPartner:
    id: str
    signer: Signer
    key: PrivateKey


def ensure_keys(settings: Settings) -> dict[str, SimulatedPartner]:
    """Generate the gateway's key and the simulated partners' keys on first run (never committed)."""
    key_path = settings.resolve(settings.gateway.signing_key)
    cert_path = settings.resolve(settings.gateway.signing_cert)
    if not key_path.exists():
        key, cert = new_key_and_certificate(settings.gateway.id, days=365)
        write_key_and_certificate(key, cert, key_path, cert_path)
        say(f"generated the gateway's signing key {key_path} and certificate {cert_path}")
    partners = {}
    for partner_id in dict.fromkeys(script.partner for script in SCRIPTS):
        partner_key = settings.resolve(Path("var/demo") / f"{partner_id}.key")
        partner_cert = settings.partners_dir / "certs" / f"{partner_id}.crt"
        if not partner_key.exists() or not partner_cert.exists():
            key, cert = new_key_and_certificate(partner_id, days=365)
            write_key_and_certificate(key, cert, partner_key, partner_cert)
            say(
                f"generated simulated partner {partner_id}'s key {partner_key}; its certificate {partner_cert} "
                f"is what its partner file trusts"
            )
        key = load_private_key(partner_key)
        partners[partner_id] = SimulatedPartner(
            partner_id, Signer(key, load_certificate(partner_cert).certificate), key
        )
    return partners


def verified_xml(body: bytes, gateway_cert: x509.Certificate) -> etree._Element:
    """What the gateway's signature covers, or an exception saying why it does not verify."""
    result = XMLVerifier().verify(body, x509_cert=gateway_cert)
    assert isinstance(result, VerifyResult)  # one signature, one result
    if result.signed_xml is None:
        raise ValueError("the signed content is not a well-formed document")
    return result.signed_xml


def inbox_app(partner_id: str, path: str, gateway_cert: x509.Certificate) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verified = verified_xml(body, gateway_cert)
        except Exception as exc:  # the demo shows what a real partner would refuse
            say(f"   ✗ {partner_id} got a message whose signature does not verify: {exc}")
            return web.Response(status=401, text="signature invalid")
        header = verified.find(f"{ENV}Header")
        alert = verified.find(f"{ENV}Body/{WCO}RiskAlert")
        area = alert.findtext(f"{WCO}RiskArea") if alert is not None else "?"
        say(
            f"   ⇒ {partner_id} received {header.findtext(f'{ENV}MessageType')} "
            f"{header.findtext(f'{ENV}MessageID')} from {header.findtext(f'{ENV}Sender')} "
            f"(risk area {area}), gateway id {request.headers.get('X-Gateway-Message-Id')}; "
            "signature of the gateway verified"
        )
        return web.Response(status=200, text="received")

    app = web.Application()
    app.router.add_post(path, receive)
    return app


async def start_inbox(partner_id: str, url: str, gateway_cert: x509.Certificate) -> web.AppRunner:
    parsed = URL(url)
    runner = web.AppRunner(inbox_app(partner_id, parsed.path, gateway_cert), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parsed.host or "127.0.0.1", parsed.port or 80).start()
    return runner


def fresh_message(partner: SimulatedPartner, script: Script) -> tuple[bytes, str, list[tuple[str, str, Path]]]:
    """The example with fresh header values, signed by the partner; with its image files when it names any."""
    root = parse_xml((EXAMPLES / script.example).read_bytes())
    images = fill_images(root, EXAMPLES / "images") if script.images else []
    message_id = f"{partner.id.upper()}-{uuid.uuid4().hex[:12]}"
    root.find(f"{ENV}Header/{ENV}MessageID").text = message_id
    root.find(f"{ENV}Header/{ENV}Sender").text = partner.id
    if script.receiver:
        root.find(f"{ENV}Header/{ENV}Receiver").text = script.receiver
    root.find(f"{ENV}Header/{ENV}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return to_bytes(partner.signer.sign(root)), message_id, images


async def send_one(
    settings: Settings, partner: SimulatedPartner, script: Script, gateway_cert: x509.Certificate
) -> None:
    body, message_id, images = fresh_message(partner, script)
    header = parse_xml(body).find(f"{ENV}Header")
    assert header is not None
    receiver, message_type = header.findtext(f"{ENV}Receiver"), header.findtext(f"{ENV}MessageType")
    if script.as4:
        await demo_as4.send(settings, partner.id, partner.key, partner.signer.certificate, body, gateway_cert)
        return
    with_images = f" with {len(images)} images as multipart/related" if images else ""
    say(f"→ {partner.id} signs {message_type} {message_id} ({script.story}) for {receiver} and POSTs it{with_images}")
    url = f"http://{settings.http.host}:{settings.http.port}/v1/partners/{partner.id}/messages"
    try:
        status, answer = await (post_multipart(url, body, images) if images else post(url, body))
    except (aiohttp.ClientError, OSError) as exc:
        say(f"   ✗ the gateway did not answer: {exc}")
        return
    try:
        receipt = verified_xml(answer, gateway_cert)
    except Exception:
        say(f"   ✗ HTTP {status}; the receipt did not verify: {answer[:300]!r}")
        return
    outcome = receipt.findtext(f"{ENV}Body/{WCO}Receipt/{WCO}FunctionCode")
    gateway_id = receipt.findtext(f"{ENV}Body/{WCO}Receipt/{WCO}GatewayMessageID")
    if status in (200, 202):
        say(f"   ✓ gateway answered HTTP {status} with a signed receipt: {outcome}, gateway id {gateway_id}")
    else:
        error = receipt.findtext(f"{ENV}Body/{WCO}Receipt/{WCO}Error/{WCO}Description")
        code = receipt.findtext(f"{ENV}Body/{WCO}Receipt/{WCO}Error/{WCO}ValidationCode")
        say(f"   ✗ gateway answered HTTP {status}: {code}: {error}")


async def run_demo(config: str | None, count: int = 0, interval: float = 3.0) -> int:
    path = config_path_from(config)
    settings = load_settings(path)
    partners = ensure_keys(settings)
    logging.getLogger("gateway").setLevel(logging.WARNING)
    gateway_cert = load_certificate(settings.resolve(settings.gateway.signing_cert)).certificate
    registry = load_partners(settings.partners_dir, frozenset(default_adapters()))
    inboxes = []
    for pid, partner in partners.items():
        url = str(registry[pid].spec.delivery.url)  # type: ignore[union-attr]
        if pid == AS4_PARTNER:
            inboxes.append(
                await demo_as4.start_inbox(settings, pid, url, partner.key, partner.signer.certificate, gateway_cert)
            )
        else:
            inboxes.append(await start_inbox(pid, url, gateway_cert))
    ready, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(settings, ready=ready, stop=stop))
    await asyncio.wait({server, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        await server  # raises the start-up error
        return 1
    say(
        f"gateway {settings.gateway.id} is up on http://{settings.http.host}:{settings.http.port} "
        f"(RabbitMQ {settings.amqp.url.split('@')[-1]}, store {settings.store.url}); Ctrl-C stops it"
    )
    say(
        f'admin token: {settings.resolve(settings.admin.token_file)}; try: curl -H "Authorization: Bearer '
        f'$(cat {settings.resolve(settings.admin.token_file)})" '
        f"http://{settings.http.host}:{settings.http.port}/v1/admin/messages"
    )
    sent = 0
    try:
        # Ctrl-C (or SIGTERM) reaches the gateway's own handler, which stops the server: stop sending then.
        while (count == 0 or sent < count) and not stop.is_set():
            for script in SCRIPTS:
                if stop.is_set():
                    break
                await send_one(settings, partners[script.partner], script, gateway_cert)
                await asyncio.sleep(interval / 2)
            sent += 1
        if not stop.is_set():
            await asyncio.sleep(1.0)  # let the last deliveries arrive
    except asyncio.CancelledError:
        pass
    finally:
        stop.set()
        await server
        for runner in inboxes:
            await runner.cleanup()
    return 0
