"""The two floors the gateway is compared with (DESIGN.md 6).

crypto floor: the unavoidable work of one message on one core, one raw RSA-2048 verify (the partner's
    signature) plus one raw RSA-2048 sign (the gateway's), PKCS#1 v1.5 over a 32-byte SHA-256 digest.
stack floor: the aiohttp + aio-pika stack alone, end to end (``bench.stack_floor``, a process of its own).
broker floor: what RabbitMQ takes from one aio-pika connection, confirmed persistent publishes of ~3 KB to a
    quorum queue with a window of publishes in flight, then consume with ack.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from bench.stats import rate


def _seconds_per_call(call: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Mean CPU seconds of one call (this thread's), calling it in batches for about ``seconds`` of CPU.

    CPU time, not wall time: on a shared machine the wall clock also counts the other processes' turns, while
    the gateway's figures are CPU time too (issue 15 compares CPU per message with CPU per message)."""
    call()  # warm: first-call costs (lazy init in OpenSSL) are not per-message work
    count = 0
    started = time.thread_time()
    while (elapsed := time.thread_time() - started) < seconds:
        for _ in range(10):
            call()
        count += 10
    return elapsed / count, count


def crypto_floor(seconds: float = 2.0) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    digest = hashlib.sha256(b"x" * 3072).digest()
    prehashed = utils.Prehashed(hashes.SHA256())
    signature = key.sign(digest, padding.PKCS1v15(), prehashed)

    t_sign, n_sign = _seconds_per_call(lambda: key.sign(digest, padding.PKCS1v15(), prehashed), seconds)
    t_verify, n_verify = _seconds_per_call(
        lambda: public.verify(signature, digest, padding.PKCS1v15(), prehashed), seconds
    )
    per_message = t_sign + t_verify
    return {
        "sign_ms": round(t_sign * 1000, 4),
        "verify_ms": round(t_verify * 1000, 4),
        "sign_calls": n_sign,
        "verify_calls": n_verify,
        "seconds_per_message": per_message,
        "minimum_ms": round((t_verify + 2 * t_sign) * 1000, 4),
        "msgs_per_s": round(1 / per_message, 1),
    }


def sm2_costs(seconds: float = 1.0) -> dict[str, Any]:
    """SM2-SM3 sign and verify (gmssl-pyx, as gateway.security.sm2 does them) over a SignedInfo-sized input:
    the crypto minimum of a message from an SM2 partner is one SM2 verify, one SM2 sign (its receipt) and one
    RSA sign (the delivered document)."""
    import gmssl_pyx

    from gateway.security.certificates import new_key_and_certificate

    key, _ = new_key_and_certificate("bench-sm2", algorithm="sm2")
    data = b"<ds:SignedInfo>" + b"x" * 400 + b"</ds:SignedInfo>"
    signature = key.sign(data)
    t_sign, _ = _seconds_per_call(lambda: key.sign(data), seconds)
    t_verify, _ = _seconds_per_call(
        lambda: gmssl_pyx.sm2_verify(key.public, data, signature, signer_id=b"1234567812345678"), seconds
    )
    return {"sm2_sign_ms": round(t_sign * 1000, 4), "sm2_verify_ms": round(t_verify * 1000, 4)}


async def broker_floor(amqp_url: str, count: int, in_flight: int, size: int) -> dict[str, Any]:
    body = (b"<x>" + b"a" * max(0, size - 7) + b"</x>")[:size]
    name = f"bench.floor.{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(amqp_url, client_properties={"connection_name": "gateway-bench-floor"})
    try:
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await publish_channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        try:
            publish_s = await _publish_all(publish_channel, name, body, count, in_flight)
            consume_s = await _consume_all(connection, name, count, in_flight)
        finally:
            # Quorum queues refuse if_unused (NOT_IMPLEMENTED closes the channel): say False explicitly.
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return {
        "messages": count,
        "message_bytes": len(body),
        "publishes_in_flight": in_flight,
        "publish_per_s": rate(count, publish_s),
        "consume_ack_per_s": rate(count, consume_s),
        "publish_seconds": round(publish_s, 3),
        "consume_seconds": round(consume_s, 3),
        # One message needs both; the broker does them at the same time in the gateway, so the lower rate is
        # what it can sustain (an optimistic floor: both directions share the broker's cores in reality).
        "msgs_per_s": rate(count, max(publish_s, consume_s)),
    }


async def _publish_all(
    channel: aio_pika.abc.AbstractChannel, queue: str, body: bytes, count: int, in_flight: int
) -> float:
    window = asyncio.Semaphore(in_flight)

    async def one(index: int) -> None:
        async with window:
            message = aio_pika.Message(body, message_id=str(index), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, queue, mandatory=True, timeout=30)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def _consume_all(connection: aio_pika.abc.AbstractConnection, name: str, count: int, prefetch: int) -> float:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(name)
    done = asyncio.Event()
    seen = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen >= count:
            done.set()

    started = time.perf_counter()
    tag = await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), timeout=max(60.0, count / 50))
    elapsed = time.perf_counter() - started
    await queue.cancel(tag)
    await channel.close()
    return elapsed
