"""Configuration changes told to every worker and every gateway instance on the broker, at once.

An admin change (partner created, replaced, removed, suspended, resumed, a certificate added, a reload) is made
durable by the worker that serves it (partner files written and fsynced, then loaded), which then publishes
one confirmed announcement to the fanout exchange ``<prefix>.config``. Every runtime has its own exclusive
queue bound to it and reloads on an announcement from anyone else, then answers ``applied``; the announcing
worker waits for the answers of every peer it knows (at most ``wait`` seconds), so the API answers once the
change is live everywhere. Peers are learned from a ``hello`` at start and from every message; a peer that
does not answer in time is forgotten until it speaks again (a worker killed by kill -9 costs one wait).
The folder watcher stays: it covers edited files and announcements missed while a worker was disconnected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from gateway.broker.publisher import Publisher
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

WAIT = 1.0  # seconds an announcement waits for the peers' answers


class Announcements:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        publisher: Publisher,
        prefix: str,
        on_change: Callable[[str], Awaitable[object]],
        *,
        wait: float = WAIT,
    ) -> None:
        self.connection = connection
        self.publisher = publisher
        self.exchange = f"{prefix}.config"
        self.on_change = on_change
        self.wait = wait
        self.origin = uuid.uuid4().hex  # this runtime: its own announcements come back to it and are skipped
        self.queue = ""
        self.peers: dict[str, str] = {}  # origin -> its queue (where answers go)
        self._waiting: dict[str, tuple[set[str], asyncio.Event]] = {}  # change id -> peers yet to answer
        self._pending: list[tuple[str, str, str]] = []  # (change id, what, answer to) not yet applied
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.FANOUT, durable=True)
        # Server-named, exclusive: gone with this connection; the robust connection declares it again.
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        self.queue = queue.name
        await queue.consume(self._received, no_ack=True)
        await self._send("hello", self.exchange, "")

    async def close(self) -> None:
        await self._send("bye", self.exchange, "")
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()

    async def announce(self, what: str) -> None:
        """Tell the others and wait for each known peer to have applied the change (at most ``wait`` s)."""
        change = uuid.uuid4().hex
        waiting = set(self.peers)
        done = asyncio.Event()
        self._waiting[change] = (waiting, done)
        try:
            if not await self._send("change", self.exchange, "", id=change, what=what):
                return
            if waiting:
                try:
                    async with asyncio.timeout(self.wait):
                        await done.wait()
                except TimeoutError:
                    log.warning(
                        "no answer within %gs from %d peer(s); forgotten until they speak", self.wait, len(waiting)
                    )
                    for peer in waiting:
                        self.peers.pop(peer, None)
        finally:
            del self._waiting[change]

    async def _send(self, kind: str, exchange: str, routing_key: str, **fields: Any) -> bool:
        body = json.dumps({"kind": kind, "origin": self.origin, "queue": self.queue, **fields}).encode()
        try:
            await self.publisher.publish(routing_key, body, message_id=uuid.uuid4().hex, headers={}, exchange=exchange)
        except GatewayError as exc:
            log.warning("configuration %s not sent (%s); the other workers' folder watchers carry changes", kind, exc)
            return False
        return True

    async def _received(self, message: AbstractIncomingMessage) -> None:
        try:
            data = json.loads(message.body)
            kind, origin, queue = str(data["kind"]), str(data["origin"]), str(data["queue"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed configuration message: %r", message.body[:200])
            return
        if origin == self.origin:
            return
        if kind == "bye":
            self.peers.pop(origin, None)
            return
        self.peers[origin] = queue
        if kind == "hello":
            self._spawn(self._send("here", "", queue))
        elif kind == "applied":
            for change in data.get("ids", []):
                waiting, done = self._waiting.get(str(change), (set(), None))
                waiting.discard(origin)
                if done is not None and not waiting:
                    done.set()
        elif kind == "change":
            # Several announcements while one reload runs make one more reload, not one each.
            self._pending.append((str(data.get("id", "")), str(data.get("what", "")), queue))
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._apply(), name="config-announcement")

    def _spawn(self, coroutine: Awaitable[object]) -> None:
        async def run() -> None:
            await coroutine

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            what = ", ".join(sorted({w for _, w, _ in batch}))
            try:
                await self.on_change(what)
            except GatewayError as exc:  # refused: logged and audited by the reload, the running set stays
                log.warning("announced %s change not applied here: %s", what, exc)
            answers: dict[str, list[str]] = {}
            for change, _, queue in batch:
                answers.setdefault(queue, []).append(change)
            for queue, ids in answers.items():
                await self._send("applied", "", queue, ids=ids)
