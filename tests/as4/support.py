"""A deployment with an AS4 partner, and the independent peer (tests/as4/peer.py in .venv-as4peer)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier

from gateway.as4 import encryption, signals, wss
from gateway.as4.errors import FailedAuthentication
from gateway.as4.wss import Credentials
from tests.helpers import ROOT, Deployment, PartnerSpec, make_deployment

PEER_PYTHON = ROOT / ".venv-as4peer" / "bin" / "python"
PEER_SCRIPT = ROOT / "tests" / "as4" / "peer.py"
UNREGISTERED = "urn:oasis:names:tc:ebcore:partyid-type:unregistered"
SERVICE = "urn:customs-gateway:service:exchange"
ACTION = "RiskAlert"


def as4_table(*, encryption_required: bool, encryption_certificate: str | None) -> str:
    lines = [
        "[as4]",
        'party_id = "PEER-AP"',
        f'party_type = "{UNREGISTERED}"',
        f"encryption_required = {'true' if encryption_required else 'false'}",
    ]
    if encryption_certificate:
        lines.append(f'encryption_certificate = "{encryption_certificate}"')
    lines += [
        "[as4.messages.risk-alert]",
        f'service = "{SERVICE}"',
        'service_type = "urn:customs-gateway:service-type"',
        f'action = "{ACTION}"',
    ]
    return "\n".join(lines)


def as4_deployment(
    folder: Path, *, receiver_url: str, peer_url: str | None = None, encryption_required: bool = True
) -> Deployment:
    """``peer-ap`` speaks AS4 (its certificate also encrypts); ``de-customs`` is a canonical HTTP partner."""
    peer_extra = as4_table(encryption_required=encryption_required, encryption_certificate="certs/peer-ap.crt")
    specs = [
        PartnerSpec("peer-ap", extra=peer_extra, receives=[]),
        PartnerSpec("de-customs", url=receiver_url),
    ]
    deployment = make_deployment(
        folder, specs, extra_toml=f'[as4]\nparty_id = "GW-AP"\nparty_type = "{UNREGISTERED}"\n'
    )
    if peer_url is not None:
        add_as4_delivery(deployment, peer_url)
    return deployment


def add_as4_delivery(deployment: Deployment, url: str, *, encryption_certificate: str | None = None) -> None:
    """The peer also receives risk alerts, over AS4 (its file gains receives and [delivery])."""
    path = deployment.folder / "partners" / "peer-ap.toml"
    text = path.read_text().replace("receives = []", 'receives = ["risk-alert"]')
    if encryption_certificate:
        text = text.replace(
            'encryption_certificate = "certs/peer-ap.crt"', f'encryption_certificate = "{encryption_certificate}"'
        )
    path.write_text(text + f'\n[delivery]\ntransport = "as4"\nurl = "{url}"\n')


def credentials(deployment: Deployment, partner: str) -> Credentials:
    identity = deployment.partners[partner]
    return Credentials(identity.key, identity.cert)  # type: ignore[arg-type]


def peer_config(deployment: Deployment, **extra: object) -> dict[str, object]:
    identity = deployment.partners["peer-ap"]
    return {
        "key": str(identity.key_path),
        "cert": str(identity.cert_path),
        "gateway_cert": str(deployment.gateway.cert_path),
        "party_id": "PEER-AP",
        "party_type": UNREGISTERED,
        "gateway_party_id": "GW-AP",
        "gateway_party_type": UNREGISTERED,
        "service": SERVICE,
        "service_type": "urn:customs-gateway:service-type",
        "action": ACTION,
        **extra,
    }


async def peer_send(folder: Path, config: dict[str, object]) -> dict[str, object]:
    path = folder / "peer-send.json"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        str(PEER_PYTHON),
        str(PEER_SCRIPT),
        "send",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


class PeerServer:
    """The peer as an AS4 receiver in its own process."""

    def __init__(self, folder: Path, config: dict[str, object]) -> None:
        self.folder = folder
        self.config = config
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        path = self.folder / "peer-serve.json"
        path.write_text(json.dumps(self.config))
        self.process = await asyncio.create_subprocess_exec(
            str(PEER_PYTHON),
            str(PEER_SCRIPT),
            "serve",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, (await self.process.stderr.read()).decode() if self.process.stderr else "peer did not start"
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}/as4"

    async def next_message(self) -> dict[str, object]:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, "the peer stopped"
        result: dict[str, object] = json.loads(line)
        return result

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


W = "{urn:customs-gateway:wco:1}"


@dataclass
class StreamedDelivery:
    message_id: str
    encrypted: bool
    images: dict[str, tuple[str, int, str]]  # Content-ID -> (media type, size, sha256 hex)
    verified: dict[str, bool]  # Image ID -> its bytes, the AS4 signature and the inspection result agree


@dataclass
class StreamingAs4Inbox:
    """An AS4 access point that never holds an image: the envelope and the document are read whole, the
    signature verified with the image references pending, each image part decrypted and hashed while it streams,
    then checked against the AS4 signature's reference and the gateway-signed inspection result. Answers with a
    receipt signed by ``credentials`` (which also decrypt); ``outage`` answers HTTP 503 to each first attempt."""

    credentials: Credentials
    gateway_cert: x509.Certificate
    received: list[StreamedDelivery] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    outage: bool = False
    refused: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        soap_part = await reader.next()
        assert isinstance(soap_part, BodyPartReader)
        root = etree.fromstring(bytes(await soap_part.read()))
        message_id = root.findtext(".//{*}UserMessage/{*}MessageInfo/{*}MessageId") or ""
        if self.outage and message_id not in self.refused:
            self.refused.add(message_id)
            return web.Response(status=503, text="receiver outage")
        infos = root.findall(".//{*}PayloadInfo/{*}PartInfo")
        compressed = {i.get("href", "")[4:] for i in infos if "CompressionType" in etree.tostring(i).decode()}
        images = frozenset(i.get("href", "")[4:] for i in infos) - compressed
        doc_part = await reader.next()
        assert isinstance(doc_part, BodyPartReader)
        doc_cid = doc_part.headers["Content-ID"].strip("<>")
        raw = bytes(await doc_part.read())
        decrypted = encryption.decrypt(root, {doc_cid: raw}, self.credentials.key, pending=images)
        gz = decrypted.data.get(doc_cid, raw)

        def trust(cert: x509.Certificate) -> None:
            if cert != self.gateway_cert:
                raise FailedAuthentication("not the gateway's certificate")

        verified = wss.verify(root, {doc_cid: gz}, trust, pending=images)
        document = XMLVerifier().verify(gzip.decompress(gz), x509_cert=self.gateway_cert).signed_xml
        manifest = {
            i.findtext(f"{W}ID"): (
                i.findtext(f"{W}MediaType"),
                int(i.findtext(f"{W}SizeMeasure") or 0),
                base64.b64decode(i.findtext(f"{W}DigestValue") or "").hex(),
            )
            for i in document.iter(f"{W}Image")
        }
        signed = {r.uri[4:]: base64.b64decode(r.digest_value).hex() for r in verified.references}
        got: dict[str, tuple[str, int, str]] = {}
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            cid = part.headers["Content-ID"].strip("<>")
            stream = decrypted.streams.get(cid)
            digest, size = hashlib.sha256(), 0
            while chunk := await part.read_chunk(256 * 1024):
                plain = stream.update(chunk) if stream else chunk
                digest.update(plain)
                size += len(plain)
            if stream:
                stream.finish()
            media = decrypted.mime_types.get(cid) if stream else part.headers.get("Content-Type")
            got[cid] = (media or "", size, digest.hexdigest())
        ok = {cid: got.get(cid) == want and signed.get(cid) == want[2] for cid, want in manifest.items()}
        self.received.append(StreamedDelivery(message_id, bool(decrypted.streams), got, ok))
        self.arrived.set()
        if not all(ok.values()) or set(got) != set(manifest):
            return web.Response(status=422, text=f"digest check failed: {ok}")
        receipt = signals.receipt(message_id, verified.references, self.credentials)
        return web.Response(body=receipt, content_type="application/soap+xml")

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - bounds every test wait
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
