"""A running gateway (real app, broker, store) with an admin client and a stream of traffic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.runtime import RUNTIME, Runtime
from tests.conftest import Inbox
from tests.helpers import Deployment, Identity, envelope, signed


@dataclass
class Gateway:
    deployment: Deployment
    client: TestClient[web.Request, web.Application]
    inboxes: dict[str, Inbox] = field(default_factory=dict)  # the partners' inboxes a test watches, by id

    @property
    def runtime(self) -> Runtime:
        return self.client.app[RUNTIME]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.runtime.token}"}

    async def admin(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        response = await self.client.request(method, f"/v1/admin{path}", json=json, headers=self.headers)
        return response.status, await response.json()

    async def send(self, identity: Identity, sender: str, receiver: str | None) -> tuple[int, str]:
        body = signed(identity, envelope(sender, receiver))
        response = await self.client.post(
            f"/v1/partners/{sender}/messages", data=body, headers={"Content-Type": "application/xml"}
        )
        return response.status, response.headers.get("X-Gateway-Outcome", "")

    async def wait_status(self, message_id: str, wanted: str, attempts: int = 400) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for _ in range(attempts):
            _, record = await self.admin("GET", f"/messages/{message_id}")
            if record.get("status") == wanted:
                return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"message {message_id} is {record.get('status')}, expected {wanted}: {record}")


@dataclass
class Traffic:
    """Messages sent one after the other until stopped; every answer is kept."""

    gateway: Gateway
    sender: str
    receiver: str
    identity: Identity
    answers: list[tuple[int, str]] = field(default_factory=list)
    sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.answers.append(await self.gateway.send(self.identity, self.sender, self.receiver))
            self.sent.set()
            await asyncio.sleep(0)

    async def at_least(self, count: int) -> None:
        while len(self.answers) < count:
            self.sent.clear()
            await asyncio.wait_for(self.sent.wait(), 30)


@contextlib.asynccontextmanager
async def flowing(traffic: Traffic) -> AsyncIterator[Traffic]:
    stop = asyncio.Event()
    task = asyncio.create_task(traffic.run(stop))
    try:
        await traffic.at_least(3)  # traffic is really flowing before the change
        yield traffic
        await traffic.at_least(len(traffic.answers) + 3)  # ... and after it
    finally:
        stop.set()
        await task
