"""Everything one running gateway holds, opened in order and closed in reverse."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from gateway.broker.connection import connect
from gateway.broker.publisher import Publisher
from gateway.broker.topology import Topology
from gateway.config import Settings
from gateway.delivery.http import HttpTransport
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import ConfigError, Unavailable
from gateway.formats import FormatAdapter, default_adapters
from gateway.ingress.pipeline import Ingress
from gateway.metrics import Metrics
from gateway.partners import PartnerRegistry, load_partners
from gateway.partners.model import Partner
from gateway.security.certificates import load_certificate, load_private_key
from gateway.security.signatures import Signer
from gateway.store import Store, open_store

log = logging.getLogger(__name__)


def load_signer(settings: Settings) -> Signer:
    key = load_private_key(settings.resolve(settings.gateway.signing_key))
    cert = load_certificate(settings.resolve(settings.gateway.signing_cert))
    return Signer(key, cert.certificate)


def admin_token(path: Path) -> str:
    """The admin bearer token; a random one is written (mode 600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        log.info("admin token written to %s", path)
    token = path.read_text().strip()
    if len(token) < 16:
        raise ConfigError(f"{path}: the admin token must be at least 16 characters")
    return token


class Runtime:
    def __init__(self, settings: Settings, adapters: Mapping[str, FormatAdapter] | None = None) -> None:
        self.settings = settings
        self.adapters = dict(adapters or default_adapters())
        self.registry: PartnerRegistry = load_partners(settings.partners_dir, frozenset(self.adapters))
        self.signer = load_signer(settings)
        self.token = admin_token(settings.resolve(settings.admin.token_file))
        self.metrics = Metrics()
        self.topology = Topology(
            settings.amqp.prefix, settings.amqp.delivery_limit, tuple(settings.delivery.retry_delays)
        )
        self.store: Store = open_store(settings.store.url, settings.sqlite_path)
        self._stack = contextlib.AsyncExitStack()
        self.publisher: Publisher | None = None
        self.worker: DeliveryWorker | None = None
        self.ingress: Ingress

    def partners(self) -> Mapping[str, Partner]:
        return self.registry

    async def start(self, *, deliver: bool = True) -> None:
        await self.store.open()
        self._stack.push_async_callback(self.store.close)
        connection = await connect(self.settings.amqp.url, self.settings.amqp.heartbeat)
        self._stack.push_async_callback(connection.close)
        self.connection = connection
        self.publisher = Publisher(connection, self.topology, self.settings.amqp.publish_timeout)
        await self.publisher.start()
        self._stack.push_async_callback(self.publisher.close)
        self.ingress = Ingress(
            gateway_id=self.settings.gateway.id,
            partners=self.partners,
            adapters=self.adapters,
            signer=self.signer,
            store=self.store,
            publisher=self.publisher,
            topology=self.topology,
            rules=self.settings.routing.rules,
            security=self.settings.security,
        )
        if deliver:
            session = aiohttp.ClientSession()
            self._stack.push_async_callback(session.close)
            self.worker = DeliveryWorker(
                connection=connection,
                topology=self.topology,
                partners=self.partners,
                adapters=self.adapters,
                signer=self.signer,
                store=self.store,
                transport=HttpTransport(session, self.settings.delivery.timeout),
                publisher=self.publisher,
                settings=self.settings.delivery,
                observe=self.metrics.observe_delivery,
            )
            await self.worker.start()
            self._stack.push_async_callback(self.worker.close)
        else:
            # Ingress alone still needs the receivers' queues, or publishes would be unroutable.
            channel = await connection.channel()
            receivers = [p.id for p in self.registry.values() if p.spec.receives]
            await self.topology.declare_receivers(channel, receivers)
            await channel.close()
        self.refresh_gauges()

    async def close(self) -> None:
        await self._stack.aclose()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.store.ping()
            checks["store"] = "ok"
        except Unavailable as exc:
            checks["store"] = exc.message
        connection = getattr(self, "connection", None)
        checks["broker"] = "ok" if connection is not None and not connection.is_closed else "not connected"
        return checks

    def refresh_gauges(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for partner in self.registry.values():
            for cert in partner.certificates:
                self.metrics.certificate_days.labels(partner.id, cert.path.name).set(round(cert.days_left(now), 2))
