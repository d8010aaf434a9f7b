"""Every rejection code of DESIGN.md 3.4, through the real app, a real broker and a real store.

Each rejection must come back with its HTTP status, its code in ``X-Gateway-Outcome`` and in a receipt signed
by the gateway, a message naming the field or value, and nothing published: the apps here run without delivery
workers, so a receiver queue's message count is exactly what was published to it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aio_pika
import pytest
from aiohttp.test_utils import TestClient
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.broker.topology import Topology
from gateway.config import Settings
from gateway.runtime import RUNTIME
from gateway.security.verified import DS
from gateway.security.xml import to_bytes
from tests.formats import ceb_samples
from tests.helpers import (
    AMQP_URL,
    ENV,
    FIXTURES,
    Deployment,
    Identity,
    PartnerSpec,
    envelope,
    make_deployment,
    make_identity,
    signed,
    wait_until,
)

E = f"{{{ENV}}}"
W = "{urn:customs-gateway:wco:1}"
D = f"{{{DS}}}"
XML = {"Content-Type": "application/xml"}
SENDER = "nl-customs"
RECEIVERS = ["nl-customs", "de-customs", "fr-customs", "sw-nsw", "cn-nsw"]
SMALL_LIMIT = 4096  # bytes: a signed risk alert is larger


# --- the deployment: keys are made once per module, the broker names and the store once per test ----------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    folder = tmp_path_factory.mktemp("rejections")
    inbox = "http://127.0.0.1:9/inbox"  # never called: the apps here do not deliver
    deployment = make_deployment(
        folder,
        [
            PartnerSpec(SENDER, url=inbox),
            PartnerSpec("de-customs", url=inbox, country="DE"),
            PartnerSpec("fr-customs", url=inbox, country="FR", receives=["declaration"]),
            PartnerSpec("sw-nsw", url=inbox, role="single-window", country="CN", sends=["order"], receives=["receipt"]),
            PartnerSpec("old-customs", receives=[], country="BE"),
            PartnerSpec("new-customs", receives=[], country="LU"),
            PartnerSpec("off-customs", receives=[], country="AT", extra="suspended = true"),
            PartnerSpec(
                "cn-nsw",
                url=inbox,
                format="ceb",
                role="single-window",
                country="CN",
                sends=["order"],
                receives=["receipt"],
            ),
        ],
    )
    now = dt.datetime.now(dt.UTC)
    # Replace two partners' certificates: one expired last week, one valid only from next week.
    for name, start in (
        ("old-customs", now - dt.timedelta(days=10)),
        ("new-customs", now + dt.timedelta(days=7)),
    ):
        identity = make_identity(folder / "partner-keys", name, days=3, not_before=start)
        (folder / "partners" / "certs" / f"{name}.crt").write_bytes(identity.cert_path.read_bytes())
        deployment.partners[name] = identity
    return deployment


@dataclass
class Gateway:
    deployment: Deployment
    settings: Settings
    client: TestClient
    amqp: aio_pika.abc.AbstractConnection
    token: str

    @property
    def topology(self) -> Topology:
        return self.client.app[RUNTIME].topology

    async def post(self, partner: str, body: bytes, headers: dict[str, str] | None = None):
        return await self.client.post(f"/v1/partners/{partner}/messages", data=body, headers=headers or XML)

    async def depth(self, receiver: str) -> int:
        """Messages queued for ``receiver``, in its bulk and its urgent queue (the fast lane, issue 17)."""
        channel = await self.amqp.channel()
        try:
            count = 0
            for name in (self.topology.deliver_queue(receiver), self.topology.urgent_queue(receiver)):
                queue = await channel.declare_queue(name, passive=True)
                count += queue.declaration_result.message_count or 0
            return count
        finally:
            await channel.close()

    async def published(self) -> int:
        return sum([await self.depth(r) for r in RECEIVERS])

    async def admin(self, path: str) -> dict:
        response = await self.client.get(f"/v1/admin/{path}", headers={"Authorization": f"Bearer {self.token}"})
        assert response.status == 200, await response.text()
        return await response.json()


GatewayFactory = Callable[..., "asyncio.Future[Gateway]"]


@pytest.fixture
async def gateways(deployment, amqp, aiohttp_client) -> AsyncIterator[GatewayFactory]:
    """Build gateways on the module's deployment, each with its own broker prefix and store file."""
    built: list[Gateway] = []

    async def make(amqp_url: str = AMQP_URL, publish_timeout: float = 5.0, **http: object) -> Gateway:
        run = uuid.uuid4().hex[:10]
        settings = deployment.settings(
            amqp={"url": amqp_url, "prefix": f"t{run}", "publish_timeout": publish_timeout},
            store={"url": f"sqlite:///state/{run}.db"},
            http={"host": "127.0.0.1", "port": 0, "body_timeout": 2.0, **http},
        )
        client = await aiohttp_client(build_app(settings, deliver=False))
        token = settings.resolve(settings.admin.token_file).read_text().strip()
        gateway = Gateway(deployment, settings, client, amqp, token)
        built.append(gateway)
        return gateway

    yield make  # type: ignore[misc]
    for gateway in built:
        topology = gateway.topology
        await gateway.client.close()
        channel = await amqp.channel()
        await topology.delete(channel, RECEIVERS)
        await channel.close()


@pytest.fixture
async def gateway(gateways) -> Gateway:
    return await gateways()


# --- what every rejection must look like -------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    gateway_id: str
    code: str
    description: str
    pointer: str | None
    receipt: etree._Element = field(repr=False)


async def assert_rejected(gw: Gateway, response, status: int, code: str, *fragments: str) -> Refusal:
    """Status, outcome header, a receipt signed by the gateway carrying the code and a message naming
    ``fragments``, and nothing published to any receiver."""
    body = await response.read()
    assert response.status == status, body
    assert response.headers["X-Gateway-Outcome"] == code
    assert response.headers["Content-Type"].startswith("application/xml")
    receipt = XMLVerifier().verify(body, x509_cert=gw.deployment.gateway.cert).signed_xml
    payload = receipt.find(f"{E}Body/{W}Receipt")
    assert payload is not None, body
    assert payload.findtext(f"{W}FunctionCode") == "rejected"
    gateway_id = response.headers["X-Gateway-Message-Id"]
    assert payload.findtext(f"{W}GatewayMessageID") == gateway_id
    errors = payload.findall(f"{W}Error")
    assert len(errors) == 1, body
    assert errors[0].findtext(f"{W}ValidationCode") == code
    description = errors[0].findtext(f"{W}Description") or ""
    for fragment in fragments:
        assert fragment in description, f"{fragment!r} not in {description!r}"
    assert "Traceback" not in description
    assert await gw.published() == 0
    return Refusal(gateway_id, code, description, errors[0].findtext(f"{W}Pointer"), receipt)


async def assert_recorded(gw: Gateway, refusal: Refusal) -> None:
    """The store keeps the rejection with its code; nothing from this test was accepted."""
    record = await gw.admin(f"messages/{refusal.gateway_id}")
    assert (record["status"], record["code"]) == ("rejected", refusal.code)
    assert record["history"][-1]["status"] == "rejected"
    assert (await gw.admin("messages?status=accepted"))["messages"] == []


# --- message builders --------------------------------------------------------------------------------------


def alert(d: Deployment, *, sender: str = SENDER, receiver: str | None = "de-customs", **kw) -> etree._Element:
    return envelope(sender, receiver, **kw)


def sign(d: Deployment, root: etree._Element, signer: str | Identity = SENDER) -> bytes:
    identity = d.partners[signer] if isinstance(signer, str) else signer
    return signed(identity, root)


def resign(d: Deployment, change: Callable[[etree._Element], None]) -> bytes:
    """A correctly signed alert, parsed again and changed after signing."""
    root = etree.fromstring(sign(d, alert(d)))
    change(root)
    return to_bytes(root)


def without_risk_area(d: Deployment) -> bytes:
    root = alert(d)
    area = root.find(f"{E}Body/{W}RiskAlert/{W}RiskArea")
    area.getparent().remove(area)
    return sign(d, root)


def with_risk_area(value: str) -> Callable[[Deployment], bytes]:
    def build(d: Deployment) -> bytes:
        root = alert(d)
        root.find(f"{E}Body/{W}RiskAlert/{W}RiskArea").text = value
        return sign(d, root)

    return build


def flip_signature_value(root: etree._Element) -> None:
    value = root.find(f"{D}Signature/{D}SignatureValue")
    raw = bytearray(base64.b64decode("".join(value.text.split())))
    raw[len(raw) // 2] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()


def duplicate_signature(root: etree._Element) -> None:
    root.append(copy.deepcopy(root.find(f"{D}Signature")))


def reference_to_id(root: etree._Element) -> None:
    root.find(f"{D}Signature/{D}SignedInfo/{D}Reference").set("URI", "#header")


def signature_into_header(root: etree._Element) -> None:
    root.find(f"{E}Header").append(root.find(f"{D}Signature"))


def tamper_content(d: Deployment) -> bytes:
    body = sign(d, alert(d))
    assert b"<RiskArea>IPR</RiskArea>" in body
    return body.replace(b"<RiskArea>IPR</RiskArea>", b"<RiskArea>drugs</RiskArea>")


def fresh_key_same_name(d: Deployment) -> bytes:
    impostor = make_identity(d.folder / "impostors", f"{SENDER}-{uuid.uuid4().hex[:6]}")
    return sign(d, alert(d), impostor)


def with_type(message_type: str) -> Callable[[Deployment], bytes]:
    return lambda d: sign(d, alert(d, message_type=message_type))


def created(delta: dt.timedelta) -> Callable[[Deployment], bytes]:
    return lambda d: sign(d, alert(d, created=dt.datetime.now(dt.UTC) + delta))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Envelope xmlns="urn:customs-gateway:envelope:1"><Header><MessageID>&lol2;</MessageID></Header></Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Envelope xmlns="urn:customs-gateway:envelope:1"><Header><MessageID>&xxe;</MessageID></Header></Envelope>"""


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Deployment], bytes]
    status: int
    code: str
    fragments: tuple[str, ...]
    partner: str = SENDER
    headers: dict[str, str] = field(default_factory=lambda: dict(XML))
    pointer: str | None = None


CASES = [
    # 400 malformed-xml
    Case(
        "not-well-formed",
        lambda d: b"<Envelope><Header></Envelope>",
        400,
        "malformed-xml",
        ("not well-formed XML", "line 1"),
    ),
    Case("empty-body", lambda d: b"", 400, "malformed-xml", ("body is empty",)),
    Case("blank-body", lambda d: b"  \n ", 400, "malformed-xml", ("body is empty",)),
    Case("doctype-entity-bomb", lambda d: BILLION_LAUGHS, 400, "malformed-xml", ("<!DOCTYPE",)),
    Case("external-entity", lambda d: EXTERNAL_ENTITY, 400, "malformed-xml", ("document type declarations",)),
    Case("too-deep", lambda d: b"<a>" * 100 + b"</a>" * 100, 400, "malformed-xml", ("nested deeper", "64")),
    # 400 unsupported-message
    Case(
        "root-not-envelope",
        lambda d: b'<Declaration xmlns="urn:other"><ID>1</ID></Declaration>',
        400,
        "unsupported-message",
        ("'Declaration'", "urn:other", "Envelope"),
        pointer="/",
    ),
    Case(
        "envelope-in-no-namespace",
        lambda d: b"<Envelope><Header/></Envelope>",
        400,
        "unsupported-message",
        ("'Envelope'", "None"),
    ),
    Case(
        "unknown-message-type",
        with_type("tax-refund"),
        400,
        "unsupported-message",
        ("'tax-refund'", "risk-alert"),
        pointer="/Envelope/Header/MessageType",
    ),
    Case(
        "content-type-json",
        lambda d: b'{"MessageID": "1"}',
        400,
        "unsupported-message",
        ("'application/json'", "application/xml"),
        headers={"Content-Type": "application/json"},
    ),
    # 401 signature-invalid
    Case("unsigned", lambda d: to_bytes(alert(d)), 401, "signature-invalid", ("not signed", "ds:Signature")),
    Case(
        "content-tampered-after-signing",
        tamper_content,
        401,
        "signature-invalid",
        ("does not verify", SENDER),
    ),
    Case(
        "signature-value-tampered",
        lambda d: resign(d, flip_signature_value),
        401,
        "signature-invalid",
        ("does not verify", SENDER),
    ),
    Case(
        "two-signatures",
        lambda d: resign(d, duplicate_signature),
        401,
        "signature-invalid",
        ("found 2 ds:Signature",),
    ),
    Case(
        "reference-uri-not-empty",
        lambda d: resign(d, reference_to_id),
        401,
        "signature-invalid",
        ('URI=""', "#header"),
    ),
    Case(
        "signature-not-enveloped-at-root",
        lambda d: resign(d, signature_into_header),
        401,
        "signature-invalid",
        ("direct child",),
    ),
    # 401 certificate-untrusted
    Case(
        "fresh-key-own-certificate",
        fresh_key_same_name,
        401,
        "certificate-untrusted",
        (f"CN={SENDER}-", f"not one of partner {SENDER}'s trusted certificates"),
    ),
    Case(
        "another-partners-key",
        lambda d: sign(d, alert(d), "de-customs"),
        401,
        "certificate-untrusted",
        ("CN=de-customs", f"not one of partner {SENDER}'s trusted certificates"),
    ),
    # 401 certificate-expired
    Case(
        "certificate-expired",
        lambda d: sign(d, alert(d, sender="old-customs"), "old-customs"),
        401,
        "certificate-expired",
        ("CN=old-customs", "old-customs.crt", "expired on"),
        partner="old-customs",
    ),
    Case(
        "certificate-not-yet-valid",
        lambda d: sign(d, alert(d, sender="new-customs"), "new-customs"),
        401,
        "certificate-expired",
        ("CN=new-customs", "is not valid before"),
        partner="new-customs",
    ),
    # 403 not-permitted
    Case(
        "sender-differs-from-url",
        lambda d: sign(d, alert(d, sender="de-customs")),
        403,
        "not-permitted",
        ("Sender 'de-customs'", f"partner '{SENDER}' in the URL"),
        pointer="/Envelope/Header/Sender",
    ),
    Case(
        "type-not-allowed-for-partner",
        lambda d: sign(d, alert(d, sender="sw-nsw"), "sw-nsw"),
        403,
        "not-permitted",
        ("sw-nsw may not send 'risk-alert'", "allows: order"),
        partner="sw-nsw",
        pointer="/Envelope/Header/MessageType",
    ),
    Case(
        "partner-suspended",
        lambda d: sign(d, alert(d, sender="off-customs"), "off-customs"),
        503,  # temporary: send again after the suspension (Retry-After)
        "partner-suspended",
        ("off-customs is suspended", "send it again once an operator has resumed"),
        partner="off-customs",
    ),
    # 409 replayed (the window on CreationDateTime; same id with other content has its own test)
    Case(
        "created-two-days-ago",
        created(-dt.timedelta(days=2)),
        409,
        "replayed",
        ("CreationDateTime", "outside the accepted window", "86400 s"),
        pointer="/Envelope/Header/CreationDateTime",
    ),
    Case(
        "created-an-hour-ahead",
        created(dt.timedelta(hours=1)),
        409,
        "replayed",
        ("CreationDateTime", "outside the accepted window", "300 s ahead"),
    ),
    # 422 schema-invalid
    Case(
        "payload-missing-risk-area",
        without_risk_area,
        422,
        "schema-invalid",
        ("RiskArea", "Indicator", "not expected"),
    ),
    Case(
        "risk-area-not-in-code-list",
        with_risk_area("weapons"),
        422,
        "schema-invalid",
        ("'weapons'", "RiskArea"),
    ),
    Case(
        "payload-does-not-match-type",
        lambda d: sign(d, alert(d, message_type="declaration", receiver="fr-customs")),
        422,
        "schema-invalid",
        ("MessageType 'declaration'", "wco:Declaration", "wco:RiskAlert"),
        pointer="/Envelope/Body",
    ),
    Case(
        "message-id-with-spaces",
        lambda d: sign(d, alert(d, message_id="not an id")),
        422,
        "schema-invalid",
        ("MessageID 'not an id'",),
        pointer="/Envelope/Header/MessageID",
    ),
    # 422 no-route
    Case(
        "receiver-unknown",
        lambda d: sign(d, alert(d, receiver="xx-customs")),
        422,
        "no-route",
        ("receiver 'xx-customs' is not a known partner",),
        pointer="/Envelope/Header/Receiver",
    ),
    Case(
        "receiver-does-not-accept-type",
        lambda d: sign(d, alert(d, receiver="fr-customs")),
        422,
        "no-route",
        ("fr-customs does not accept 'risk-alert'", "accepts: declaration"),
    ),
    Case(
        "no-receiver-and-no-rule",
        lambda d: sign(d, alert(d, receiver=None)),
        422,
        "no-route",
        ("no routing rule", "'risk-alert'", SENDER),
    ),
    Case(
        "receiver-is-the-sender",
        lambda d: sign(d, alert(d, receiver=SENDER)),
        422,
        "no-route",
        ("back to its sender",),
    ),
]


async def test_every_rejection_code(gateway: Gateway, subtests: pytest.Subtests) -> None:
    """The table, one subtest per case, against one gateway (starting a gateway costs more than a case); after
    each case nothing has been published, so a case that leaked would fail itself, not a later one."""
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        with subtests.test(case.id):
            response = await gateway.post(case.partner, case.build(gateway.deployment), case.headers)
            refusal = await assert_rejected(gateway, response, case.status, case.code, *case.fragments)
            if case.pointer is not None:
                assert refusal.pointer == case.pointer
            # The receipt answers the partner who called, in its format, from the gateway.
            assert refusal.receipt.findtext(f"{E}Header/{E}Sender") == "gw-test"
            assert refusal.receipt.findtext(f"{E}Header/{E}Receiver") == case.partner
            await assert_recorded(gateway, refusal)


@pytest.mark.parametrize("partner", ["xx-customs", "NOT_AN_ID"])
async def test_unknown_partner(gateway: Gateway, partner: str) -> None:
    body = sign(gateway.deployment, alert(gateway.deployment))
    refusal = await assert_rejected(gateway, await gateway.post(partner, body), 404, "unknown-partner", "no partner")
    shown = partner if partner == "xx-customs" else "(invalid id)"
    assert f"no partner {shown!r} is configured" in refusal.description
    assert refusal.receipt.findtext(f"{E}Header/{E}Receiver") == "unknown"


async def test_same_message_id_with_other_content_is_replayed(gateway: Gateway) -> None:
    d = gateway.deployment
    first = alert(d, message_id="SAME-ID-42")
    second = alert(d, message_id="SAME-ID-42")
    second.find(f"{E}Body/{W}RiskAlert/{W}RiskArea").text = "drugs"
    accepted = await gateway.post(SENDER, sign(d, first))
    assert accepted.status == 202, await accepted.text()
    assert await gateway.depth("de-customs") == 1  # the probe sees what is published

    response = await gateway.post(SENDER, sign(d, second))
    body = await response.read()
    assert response.status == 409, body
    assert response.headers["X-Gateway-Outcome"] == "replayed"
    receipt = XMLVerifier().verify(body, x509_cert=d.gateway.cert).signed_xml
    description = receipt.findtext(f"{E}Body/{W}Receipt/{W}Error/{W}Description")
    assert receipt.findtext(f"{E}Body/{W}Receipt/{W}Error/{W}ValidationCode") == "replayed"
    assert "'SAME-ID-42'" in description
    assert accepted.headers["X-Gateway-Message-Id"] in description
    assert await gateway.depth("de-customs") == 1  # still only the first
    record = await gateway.admin(f"messages/{response.headers['X-Gateway-Message-Id']}")
    assert (record["status"], record["code"]) == ("rejected", "replayed")


# --- too-large: a gateway with a small body limit ----------------------------------------------------------


async def raw_request(gw: Gateway, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes on a socket as they are (a lying Content-Length, a body that never completes)."""
    reader, writer = await asyncio.open_connection(gw.client.server.host, gw.client.server.port)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()
    return int(status_line.split()[1]), headers, payload


def request_head(partner: str, length: int) -> bytes:
    return (
        f"POST /v1/partners/{partner}/messages HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def raw_receipt(gw: Gateway, body: bytes) -> tuple[str, str]:
    receipt = XMLVerifier().verify(body, x509_cert=gw.deployment.gateway.cert).signed_xml
    error = receipt.find(f"{E}Body/{W}Receipt/{W}Error")
    return error.findtext(f"{W}ValidationCode"), error.findtext(f"{W}Description")


async def test_body_over_the_limit_is_too_large(gateways) -> None:
    gw = await gateways(max_body_bytes=SMALL_LIMIT)
    body = sign(gw.deployment, alert(gw.deployment))
    assert len(body) > SMALL_LIMIT
    refusal = await assert_rejected(
        gw,
        await gw.post(SENDER, body),
        413,
        "too-large",
        f"{len(body)} bytes",
        f"limit of {SMALL_LIMIT} bytes",
    )
    await assert_recorded(gw, refusal)


async def test_chunked_body_over_the_limit_is_too_large(gateways) -> None:
    """No Content-Length: the limit is enforced while reading."""
    gw = await gateways(max_body_bytes=SMALL_LIMIT)
    body = sign(gw.deployment, alert(gw.deployment))

    async def chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await gw.post(SENDER, chunks())
    assert "Content-Length" not in response.request_info.headers
    await assert_rejected(gw, response, 413, "too-large", f"limit of {SMALL_LIMIT} bytes")


async def test_announced_length_over_the_limit_is_refused_before_reading(gateways) -> None:
    """A Content-Length of 1 GB with 10 bytes sent: answered at once, not after waiting for the body."""
    gw = await gateways(max_body_bytes=SMALL_LIMIT)
    status, headers, body = await raw_request(gw, request_head(SENDER, 1_000_000_000), b"<Envelope>")
    assert (status, headers["x-gateway-outcome"]) == (413, "too-large")
    code, description = raw_receipt(gw, body)
    assert code == "too-large"
    assert "1000000000 bytes" in description
    assert f"limit of {SMALL_LIMIT} bytes" in description
    assert headers.get("connection", "").lower() == "close"
    assert await gw.published() == 0


async def test_body_that_never_completes_is_refused(gateways) -> None:
    """A body trickling past body_timeout is refused (malformed-xml), and nothing is published."""
    gw = await gateways(body_timeout=0.3)
    status, headers, body = await raw_request(gw, request_head(SENDER, 1000), b"<Envelope>")
    assert (status, headers["x-gateway-outcome"]) == (400, "malformed-xml")
    code, description = raw_receipt(gw, body)
    assert code == "malformed-xml"
    assert "not received within 0.3 s" in description
    assert await gw.published() == 0


# --- unavailable: the broker goes away for real ------------------------------------------------------------


async def broker_down(gw: Gateway) -> bool:
    return (await (await gw.client.get("/ready")).json())["checks"]["broker"] != "ok"


async def broker_up(gw: Gateway) -> bool:
    return (await gw.client.get("/ready")).status == 200


async def test_broker_down_is_unavailable_and_a_resend_is_accepted_when_it_is_back(proxy, gateways) -> None:
    gw = await gateways(amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.1")
    body = sign(gw.deployment, alert(gw.deployment, message_id="RESEND-ME-1"))

    proxy.cut()
    await wait_until(lambda: broker_down(gw), "/ready to report the broker down")
    refusal = await assert_rejected(gw, await gw.post(SENDER, body), 503, "unavailable", "broker")
    await assert_recorded(gw, refusal)

    proxy.restore()
    await wait_until(lambda: broker_up(gw), "/ready to report the broker back")
    response = await gw.post(SENDER, body)
    assert response.status == 202, await response.text()
    assert response.headers["X-Gateway-Message-Id"] != refusal.gateway_id
    assert await gw.depth("de-customs") == 1
    again = await gw.post(SENDER, body)  # and from now on it is a duplicate of the accepted one
    assert (again.status, again.headers["X-Gateway-Outcome"]) == (200, "duplicate")
    assert await gw.depth("de-customs") == 1


async def test_hung_broker_is_unavailable_after_the_publish_timeout(proxy, gateways) -> None:
    """A broker that stops answering (SIGSTOP-like): the publish times out and the partner gets 503 instead of
    a request that hangs; once the broker is restarted the resend is accepted.

    A publish that was sent but never confirmed may still be queued, so its claim stays ``received`` and the
    resend completes it under the same gateway message id (receivers can de-duplicate on it)."""
    gw = await gateways(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.1", publish_timeout=0.5
    )
    body = sign(gw.deployment, alert(gw.deployment, message_id="RESEND-ME-3"))

    proxy.stall()
    refusal = await assert_rejected(gw, await gw.post(SENDER, body), 503, "unavailable", "did not confirm")
    record = await gw.admin(f"messages/{refusal.gateway_id}")
    assert record["status"] == "received"  # reserved for the resend, not accepted
    assert (await gw.admin("messages?status=accepted"))["messages"] == []

    proxy.cut()  # the hung broker is killed: the publish it never saw is gone
    await wait_until(lambda: broker_down(gw), "/ready to report the broker down")
    proxy.restore()
    await wait_until(lambda: broker_up(gw), "/ready to report the broker back")
    response = await gw.post(SENDER, body)
    assert response.status == 202, await response.text()
    assert response.headers["X-Gateway-Message-Id"] == refusal.gateway_id
    assert await gw.depth("de-customs") == 1


async def test_store_down_is_unavailable_and_a_resend_is_accepted_when_it_is_back(gateway: Gateway) -> None:
    store = gateway.client.app[RUNTIME].store
    body = sign(gateway.deployment, alert(gateway.deployment, message_id="RESEND-ME-2"))
    await store.close()
    try:
        ready = await gateway.client.get("/ready")
        assert ready.status == 503
        response = await gateway.post(SENDER, body)
        await assert_rejected(gateway, response, 503, "unavailable", "store")
    finally:
        await store.open()
    response = await gateway.post(SENDER, body)
    assert response.status == 202, await response.text()
    assert await gateway.depth("de-customs") == 1


CEB311 = FIXTURES / "ceb" / "samples" / "import" / "CEB311Message.xml"


def ceb_order(d: Deployment, app_time: str) -> bytes:
    """The GACC CEB311 sample as the national single window would send it today (fresh guid and appTimes),
    with the first record's appTime replaced by ``app_time``, signed by cn-nsw."""
    raw = CEB311.read_bytes()
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d%H%M%S")
    raw = raw.replace(b"4CDE1CFD-EDED-46B1-946C-B8022E42FC94", str(uuid.uuid4()).upper().encode())
    raw = raw.replace(b"20160308112701", now.encode()).replace(now.encode(), app_time.encode(), 1)
    root = etree.fromstring(raw)
    for old in root.findall(f"{D}Signature"):  # the sample's own signature is not ours
        root.remove(old)
    return sign(d, root, "cn-nsw")


async def test_mapping_failed(gateway: Gateway) -> None:
    """The canonical format maps by copying, so ``mapping-failed`` needs a partner format with a real mapping:
    a CEB order whose appTime passes the GACC XSD (14 characters) but is no date-time cannot be mapped."""
    response = await gateway.post("cn-nsw", ceb_order(gateway.deployment, "20261399250000"))
    body = await response.read()
    assert response.status == 422, body
    assert response.headers["X-Gateway-Outcome"] == "mapping-failed"
    # The receipt is in the partner's own format (a CEB312), signed by the gateway, carrying code and reason.
    verified = XMLVerifier().verify(body, x509_cert=gateway.deployment.gateway.cert).signed_xml
    receipt = ceb_samples.carried(verified)  # in the DxpMsg the CEB spec signs receipts in (chapter 4)
    assert etree.QName(receipt).localname == "CEB312Message"
    text = " ".join(receipt.itertext())
    assert "mapping-failed" in text
    assert "'20261399250000' is not a date-time" in text
    assert await gateway.published() == 0
    record = await gateway.admin(f"messages/{response.headers['X-Gateway-Message-Id']}")
    assert (record["status"], record["code"]) == ("rejected", "mapping-failed")
    # The same order with a real appTime is mapped and gets as far as routing (no rule sends orders anywhere
    # here): the refusal above was the mapping's, not the set-up's.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d%H%M%S")
    mapped = await gateway.post("cn-nsw", ceb_order(gateway.deployment, today))
    assert (mapped.status, mapped.headers["X-Gateway-Outcome"]) == (422, "no-route")
