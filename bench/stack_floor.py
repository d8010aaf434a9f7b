"""The stack floor (issue 15): what the gateway's stack costs with nothing of the gateway in it.

``python -m bench.stack_floor --port P --amqp-url URL --deliver-url URL``, run by the bench as a process of its
own so that its CPU is read from /proc exactly as the gateway's is, under the same load from the same clients:

- an aiohttp handler (``POST /v1/partners/{id}/messages``) reads the body and publishes it, persistent and
  mandatory, with publisher confirms, to a quorum queue (aio-pika), then answers 202 with an id;
- a consumer (prefetch 64) POSTs each message with an aiohttp client to ``--deliver-url`` (the bench's inbox,
  with ``X-Gateway-Message-Id`` so that arrivals are matched as for the gateway) and acks it.

No XML, no crypto, no store. The event loop is uvloop, as the gateway's. The queue is exclusive to this run
and deleted when the process stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import uuid

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web

PREFETCH = 64


async def serve(port: int, amqp_url: str, deliver_url: str) -> None:
    connection = await aio_pika.connect(amqp_url, client_properties={"connection_name": "gateway-bench-stack-floor"})
    queue_name = f"bench.stack.{uuid.uuid4().hex[:10]}"
    publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    queue = await publish_channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    exchange = publish_channel.default_exchange
    consume_channel = await connection.channel()
    await consume_channel.set_qos(prefetch_count=PREFETCH)
    client = aiohttp.ClientSession()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        message_id = str(uuid.uuid4())
        message = aio_pika.Message(
            body,
            message_id=message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/xml",
        )
        await exchange.publish(message, queue_name, mandatory=True, timeout=30)
        return web.Response(status=202, text="accepted", headers={"X-Gateway-Message-Id": message_id})

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ready")

    async def on_message(message: AbstractIncomingMessage) -> None:
        headers = {"Content-Type": "application/xml", "X-Gateway-Message-Id": message.message_id or ""}
        async with client.post(deliver_url, data=message.body, headers=headers) as response:
            await response.read()
        await message.ack()

    consumer = await consume_channel.get_queue(queue_name)
    await consumer.consume(on_message)
    app = web.Application()
    app.router.add_post("/v1/partners/{partner_id}/messages", receive)
    app.router.add_get("/ready", ready)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"stack floor listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await client.close()
        with contextlib.suppress(Exception):  # cleanup: the run's result does not depend on it
            await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--deliver-url", required=True)
    args = parser.parse_args()
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.port, args.amqp_url, args.deliver_url))


if __name__ == "__main__":
    main()
