"""``python -m bench.images``: inspection results with large images through the real gateway, memory bounded.

The gateway runs in a subprocess (``gateway run``, files image store) with a sender partner and a receiver whose
inbox is an aiohttp server in this process: it streams each multipart/related delivery, hashes every part and
checks it against the gateway's signed message (nothing kept). ``--messages`` (10) inspection results of
``--images`` (5) images of ``--mb`` (40) MB each are POSTed at once as multipart/related (the images made on the
fly, block by block), in two phases:

1. **through**: the receiver takes every delivery at once;
2. **outage**: the receiver answers 503 to the first attempt of every message (before reading it), so every
   delivery goes through the retry queue and is streamed from the store again.

``--sender as4`` makes the sender an AS4 access point (the gateway's AS4 core: the images as attachments,
streamed, POSTed to ``/v1/as4``). ``--receiver as4`` makes the receiver an AS4 access point instead
(``tests/as4/support.py`` StreamingAs4Inbox: each image decrypted and hashed while it streams, checked against the
AS4 signature's reference and the signed inspection result, a signed receipt): the gateway sends each message as a
signed (and encrypted) UserMessage with the images as attachments streamed from its store (docs/AS4.md, "Images").
``--encrypted``: AS4 partners encrypt what they send and get everything encrypted.

Figures: the gateway's RSS (VmRSS of its process, sampled every 50 ms) before each phase and at its peak, and
its VmHWM; seconds and MB/s from the first POST to the last verified delivery; the gateway's CPU seconds (all
its threads, from /proc) per MB of images; the floor measured in the same run: SHA-256 over the same bytes in
this process (one core), the least work an image needs at each of the places that hash it (ingress, delivery;
and the receiver). The gateway's floor is two SHA-256 passes per MB: ``2 / floor`` ms per MB. The target
(issue 16): RSS growth under 64 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509

from bench.gateway_process import GatewayProcess, proc_status
from gateway.as4.constants import RESPONDER
from gateway.as4.message import Attachment, Party, Payload, UserMessage, build_streamed, new_message_id
from gateway.as4.wss import Credentials
from tests.as4.support import SERVICE, UNREGISTERED, StreamingAs4Inbox
from tests.helpers import AMQP_URL, PartnerSpec, make_deployment, signed
from tests.images.support import FakeImage, ImageInbox, content_type, image_part, inspection_envelope, multipart_body

MB = 1024 * 1024
TYPES = ["inspection-result", "receipt"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FlakyInbox(ImageInbox):
    """Answers 503 to the first attempt of each message while ``outage`` is set (without reading its body)."""

    outage: bool = False
    refused: set[str]

    async def handle(self, request: web.Request) -> web.Response:
        message_id = request.headers.get("X-Gateway-Message-Id", "")
        if self.outage and message_id not in self.refused:
            self.refused.add(message_id)
            return web.Response(status=503, text="receiver outage (bench)")
        return await super().handle(request)


def sha256_floor(images: list[FakeImage]) -> float:
    """MB/s of SHA-256 over one image's bytes here (one core): the least work per hashing step."""
    started = time.process_time()
    digest = hashlib.sha256()
    size = 0
    for block in images[0].blocks():
        digest.update(block)
        size += len(block)
    return size / MB / max(time.process_time() - started, 1e-9)


@dataclass(frozen=True)
class As4Sending:
    """The sender is an AS4 access point (the gateway's own AS4 core as the partner's): a UserMessage with the
    images as attachments, streamed (and encrypted while sent, given ``encrypt_for``), POSTed to /v1/as4."""

    credentials: Credentials
    encrypt_for: x509.Certificate | None


async def _blocks(image: FakeImage) -> AsyncIterator[bytes]:
    for block in image.blocks():
        yield block


async def _send_as4(
    session: aiohttp.ClientSession, url: str, sender: Any, receiver: str, images: list[FakeImage], as4: As4Sending
) -> int:
    document = signed(sender, inspection_envelope(sender.id, receiver, images))
    um = UserMessage(
        message_id=new_message_id("cn-ap"),
        from_party=Party("CN-AP", UNREGISTERED),
        to_party=Party("GW-AP", UNREGISTERED, RESPONDER),
        service=SERVICE,
        action="InspectionResult",
        conversation_id=uuid.uuid4().hex,
    )
    attachments = [Attachment(i.id, i.media_type, i.size, i.sha256.hex(), _blocks(i)) for i in images]
    out = build_streamed(
        um, [Payload("result@cn-ap", document)], attachments, as4.credentials, encrypt_for=as4.encrypt_for
    )
    async with session.post(
        url,
        data=out.body,
        headers={"Content-Type": out.content_type, "Content-Length": str(out.length)},
        timeout=aiohttp.ClientTimeout(total=1800),
    ) as response:
        await response.read()
        return 202 if response.headers.get("X-Gateway-Outcome") == "accepted" else 400


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    sender: Any,
    receiver: str,
    images: list[FakeImage],
    as4: As4Sending | None = None,
) -> int:
    if as4 is not None:
        return await _send_as4(session, url, sender, receiver, images, as4)
    message = signed(sender, inspection_envelope(sender.id, receiver, images))
    boundary = f"b-{uuid.uuid4().hex}"
    async with session.post(
        url,
        data=multipart_body(message, [image_part(i) for i in images], boundary),
        headers={"Content-Type": content_type(boundary)},
        timeout=aiohttp.ClientTimeout(total=1800),
    ) as response:
        await response.read()
        return response.status


async def _phase(
    name: str,
    gateway: GatewayProcess,
    inbox: FlakyInbox | StreamingAs4Inbox,
    url: str,
    sender: Any,
    args: argparse.Namespace,
) -> dict[str, Any]:
    before = proc_status(gateway.pid)
    peak = before.get("VmRSS", 0)
    batches = [
        [
            FakeImage(f"img-{n}", ("image/png", "image/jpeg", "image/tiff")[n % 3], args.mb * MB)
            for n in range(args.images)
        ]
        for _ in range(args.messages)
    ]
    done_before = len(inbox.received)
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc_status(gateway.pid).get("VmRSS", 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    sampler = asyncio.create_task(sample())
    cpu_before = gateway.cpu_seconds()
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(
            *(_send(session, url, sender, "nl-customs", b, args.as4_sending) for b in batches)
        )
    accepted = time.perf_counter() - started
    await inbox.wait_for(done_before + args.messages, timeout=1800)
    seconds = time.perf_counter() - started
    cpu = gateway.cpu_seconds() - cpu_before
    stop.set()
    await sampler
    delivered = inbox.received[done_before:]
    total_mb = args.messages * args.images * args.mb
    return {
        "phase": name,
        "posted": statuses,
        "delivered": len(delivered),
        "all_digests_verified": all(all(r.verified.values()) and len(r.verified) == args.images for r in delivered),
        "refused_first_attempts": len(inbox.refused) if name == "outage" else 0,
        "rss_before_mb": round(before.get("VmRSS", 0) / 1024, 1),
        "rss_peak_mb": round(peak / 1024, 1),
        "rss_growth_mb": round((peak - before.get("VmRSS", 0)) / 1024, 1),
        "vmhwm_mb": round(proc_status(gateway.pid).get("VmHWM", 0) / 1024, 1),
        "seconds_all_accepted": round(accepted, 1),
        "seconds_all_delivered": round(seconds, 1),
        "image_mb": total_mb,
        "mb_per_s": round(total_mb / seconds, 1),
        "gateway_cpu_seconds": round(cpu, 1),
        "gateway_cpu_ms_per_mb": round(cpu * 1000 / total_mb, 2),
    }


def _as4_table(encrypted: bool, party: str = "NL-AP", partner: str = "nl-customs") -> str:
    return "\n".join(
        [
            "[as4]",
            f'party_id = "{party}"',
            f'party_type = "{UNREGISTERED}"',
            f"encryption_required = {'true' if encrypted else 'false'}",
            f'encryption_certificate = "certs/{partner}.crt"',
            "[as4.messages.inspection-result]",
            'service = "urn:customs-gateway:service:exchange"',
            'action = "InspectionResult"',
        ]
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-images-") as folder:
        inbox: FlakyInbox | StreamingAs4Inbox
        as4 = args.receiver == "as4"
        if as4:
            inbox = StreamingAs4Inbox(None, None)  # type: ignore[arg-type]  # set below, once the keys exist
        else:
            inbox = FlakyInbox(gateway_cert=None)  # type: ignore[arg-type]  # set below, once the keys exist
            inbox.refused = set()
        app = web.Application(client_max_size=1024**3)
        app.router.add_post("/inbox", inbox.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        inbox_url = str(server.make_url("/inbox"))
        limit = f"[images]\nmax_image_bytes = {(args.mb + 1) * MB}\nmax_images = {args.images}\n"
        receiver = (
            PartnerSpec("nl-customs", sends=TYPES, receives=TYPES, extra=_as4_table(args.encrypted))
            if as4
            else PartnerSpec("nl-customs", url=inbox_url, sends=TYPES, receives=TYPES)
        )
        sends_as4 = args.sender == "as4"
        if sends_as4:
            limit += _as4_table(args.encrypted, "CN-AP", "cn-nsw")
        own_as4 = f'[as4]\nparty_id = "GW-AP"\nparty_type = "{UNREGISTERED}"\n\n' if as4 or sends_as4 else ""
        deployment = make_deployment(
            Path(folder),
            [
                PartnerSpec("cn-nsw", url="http://127.0.0.1:9/x", sends=TYPES, receives=["receipt"], extra=limit),
                receiver,
            ],
            extra_toml=f'{own_as4}[images]\ndir = "state/images"\nmax_image_bytes = {(args.mb + 1) * MB}\n',
            retry_delays="[1, 2, 4]",
            max_attempts=6,
        )
        inbox.gateway_cert = deployment.gateway.cert
        if isinstance(inbox, StreamingAs4Inbox):
            identity = deployment.partners["nl-customs"]
            inbox.credentials = Credentials(identity.key, identity.cert)  # type: ignore[arg-type]
            path = deployment.folder / "partners" / "nl-customs.toml"
            path.write_text(path.read_text() + f'\n[delivery]\ntransport = "as4"\nurl = "{inbox_url}"\n')
        port = _free_port()
        os.environ["GATEWAY_HTTP__PORT"] = str(port)
        os.environ["GATEWAY_HTTP__BODY_TIMEOUT"] = "60"
        gateway = GatewayProcess(deployment.config_path, Path(folder) / "gateway.log")
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/v1/as4" if sends_as4 else f"{base}/v1/partners/cn-nsw/messages"
        args.as4_sending = None
        if sends_as4:
            identity = deployment.partners["cn-nsw"]
            args.as4_sending = As4Sending(
                Credentials(identity.key, identity.cert),  # type: ignore[arg-type]
                deployment.gateway.cert if args.encrypted else None,
            )
        floor = sha256_floor([FakeImage("floor", "image/png", args.mb * MB)])
        try:
            gateway.start()
            await gateway.wait_ready(base)
            # Warm-up: one small inspection result, so imports and connections are not counted as growth.
            async with aiohttp.ClientSession() as session:
                warm = await _send(
                    session,
                    url,
                    deployment.partners["cn-nsw"],
                    "nl-customs",
                    [FakeImage("w", size=1000)],
                    args.as4_sending,
                )
            await inbox.wait_for(1)
            phases = [await _phase("through", gateway, inbox, url, deployment.partners["cn-nsw"], args)]
            inbox.outage = True
            phases.append(await _phase("outage", gateway, inbox, url, deployment.partners["cn-nsw"], args))
            problems = gateway.log_problems()
        finally:
            gateway.stop()
            await server.close()
            with contextlib.suppress(Exception):
                import aio_pika

                from gateway.broker.topology import Topology

                connection = await aio_pika.connect_robust(AMQP_URL)
                settings = deployment.settings()
                topology = Topology(
                    settings.amqp.prefix, settings.amqp.delivery_limit, tuple(settings.delivery.retry_delays)
                )
                channel = await connection.channel()
                await topology.delete(channel, ["cn-nsw", "nl-customs"])
                await connection.close()
    return {
        "machine": "shared (other engineers' tests and benches ran at the same time)",
        "sender": f"as4{' encrypted' if args.encrypted else ''}" if args.sender == "as4" else "http",
        "receiver": f"as4{' encrypted' if args.encrypted else ''}" if args.receiver == "as4" else "http",
        "warm_up_status": warm,
        "messages": args.messages,
        "images_per_message": args.images,
        "image_mb": args.mb,
        "sha256_floor_mb_per_s": round(floor, 1),
        "phases": phases,
        "ratio_to_floor": {p["phase"]: round(p["mb_per_s"] / floor, 3) for p in phases},
        "gateway_cpu_floor_ms_per_mb": round(2000 / floor, 2),
        "gateway_cpu_ratio_to_floor": {
            p["phase"]: round(p["gateway_cpu_ms_per_mb"] / (2000 / floor), 2) for p in phases
        },
        "target_rss_growth_under_mb": 64,
        "gateway_log": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--mb", type=int, default=40)
    parser.add_argument("--receiver", choices=["http", "as4"], default="http", help="the receiver's transport")
    parser.add_argument("--sender", choices=["http", "as4"], default="http", help="the sender's transport")
    parser.add_argument("--encrypted", action="store_true", help="AS4 partners encrypt (and get encrypted)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
