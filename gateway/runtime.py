"""Everything one running gateway holds, opened in order and closed in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from gateway.as4.inbox import As4Inbox, load_credentials
from gateway.broker.announce import Announcements
from gateway.broker.connection import connect
from gateway.broker.publisher import Publisher
from gateway.broker.topology import Topology
from gateway.config import Settings
from gateway.controls.service import Controls, load_rules, open_controls
from gateway.delivery.as4 import As4Transport
from gateway.delivery.http import HttpTransport
from gateway.delivery.transport import Transport, Transports
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import ConfigError, Unavailable
from gateway.formats import FormatAdapter, default_adapters
from gateway.ingress.pipeline import Ingress
from gateway.metrics import Metrics
from gateway.operations import reload as audited_reload
from gateway.operations import start_watching
from gateway.partners import PartnerRegistry, load_partners
from gateway.partners.model import Partner
from gateway.partners.registry import RegistryChanges, compare
from gateway.partners.watch import FolderWatcher
from gateway.security.certificates import load_certificate, load_private_key
from gateway.security.keyring import Keyring, load_keyring
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
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):  # a secret, like the private keys (certificates.load_private_key)
        raise ConfigError(
            f"{path}: admin token file is accessible to group or others (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    token = path.read_text().strip()
    if len(token) < 16:
        raise ConfigError(f"{path}: the admin token must be at least 16 characters")
    return token


class Runtime:
    def __init__(self, settings: Settings, adapters: Mapping[str, FormatAdapter] | None = None) -> None:
        self.settings = settings
        self.adapters = dict(adapters or default_adapters())
        self.registry: PartnerRegistry = load_partners(settings.partners_dir, frozenset(self.adapters))
        # The gateway's signing identities; a partner wanting an algorithm without a key refuses the start.
        self.keyring: Keyring = load_keyring(settings)
        self.keyring.check(self.registry.values())
        self.signer = self.keyring  # signs with the default key in use now (for no partner in particular)
        self.token = admin_token(settings.resolve(settings.admin.token_file))
        self.metrics = Metrics(settings.instance)
        self.topology = Topology(
            settings.amqp.prefix, settings.amqp.delivery_limit, tuple(settings.delivery.retry_delays)
        )
        self.store: Store = open_store(settings.store.url, settings.sqlite_path)
        self._stack = contextlib.AsyncExitStack()
        self.publisher: Publisher | None = None
        self.worker: DeliveryWorker | None = None
        self.ingress: Ingress
        self.config_lock = asyncio.Lock()  # held by whoever changes partner files and reloads (operations)
        self.watcher: FolderWatcher | None = None
        self.risk_rules = load_rules(settings)  # a bad rule file fails here, before serving
        self.controls: Controls | None = None
        self.as4_inbox: As4Inbox | None = None
        self.announcements: Announcements | None = None

    def partners(self) -> Mapping[str, Partner]:
        return self.registry

    async def start(self, *, deliver: bool = True) -> None:
        await self.store.open()
        self._stack.push_async_callback(self.store.close)
        connection = await connect(self.settings.amqp.nodes, self.settings.amqp.heartbeat)
        self._stack.push_async_callback(connection.close)
        self.connection = connection
        self.publisher = Publisher(connection, self.topology, self.settings.amqp.publish_timeout)
        await self.publisher.start()
        self._stack.push_async_callback(self.publisher.close)
        self.announcements = Announcements(connection, self.publisher, self.settings.amqp.prefix, self._announced)
        await self.announcements.start()
        self._stack.push_async_callback(self.announcements.close)
        self.controls = open_controls(
            self.settings,
            rules=self.risk_rules,
            messages=self.store,
            publisher=self.publisher,
            topology=self.topology,
            partners=self.partners,
            signer=self.signer,
        )
        if self.controls is not None:
            self._stack.push_async_callback(self.controls.close)
            self.controls.start()
        self.ingress = Ingress(
            participant_id=self.settings.gateway.id,
            partners=self.partners,
            adapters=self.adapters,
            keyring=self.keyring,
            store=self.store,
            publisher=self.publisher,
            topology=self.topology,
            rules=self.settings.routing.rules,
            security=self.settings.security,
            controls=self.controls,
        )
        if self.settings.as4 is not None:
            credentials, decryption_key = load_credentials(self.settings)
            self.as4_inbox = As4Inbox(
                section=self.settings.as4,
                credentials=credentials,
                decryption_key=decryption_key,
                partners=self.partners,
                pipeline=self.ingress,
                store=self.store,
                max_depth=self.settings.security.max_depth,
            )
        if deliver:
            available: dict[str, Transport] = {"http": HttpTransport.open(self.settings.delivery.timeout)}
            if self.settings.as4 is not None:
                available["as4"] = As4Transport(
                    section=self.settings.as4,
                    credentials=load_credentials(self.settings)[0],
                    store=self.store,
                    timeout=self.settings.delivery.timeout,
                )
            transports = Transports(available)
            self._stack.push_async_callback(transports.close)
            self.worker = DeliveryWorker(
                connection=connection,
                topology=self.topology,
                partners=self.partners,
                adapters=self.adapters,
                keyring=self.keyring,
                store=self.store,
                transports=transports,
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
        self._stack.push_async_callback(start_watching(self))

    async def close(self) -> None:
        await self._stack.aclose()

    async def reload(self) -> RegistryChanges:
        """Read the partner files again and swap the registry whole (callers hold ``config_lock``).

        An invalid folder raises ConfigError and the running registry stays. New receivers' queues are
        declared before the swap, so nothing is routed to a queue that does not exist; they are consumed after
        it, so no delivery finds its receiver unknown.
        """
        registry = load_partners(self.settings.partners_dir, frozenset(self.adapters))
        self.keyring.check(registry.values())  # a partner asking for SM2 without an SM2 key: refused
        changes = compare(self.registry, registry)
        receiving = {p.id for p in self.registry.values() if p.spec.receives}
        new = [p.id for p in registry.values() if p.spec.receives and p.id not in receiving]
        try:
            if new and self.publisher is not None:
                channel = await self.connection.channel()
                await self.topology.declare_receivers(channel, new)
                await channel.close()
        except Exception as exc:  # aio-pika's errors have no common base worth naming here
            raise Unavailable(f"the queues of {', '.join(new)} could not be declared: {exc!r}") from exc
        self.registry = registry
        if self.worker is not None:
            await self.worker.consume(self.worker.receivers())
        self.refresh_gauges()
        return changes

    async def announce(self) -> None:
        """A configuration change made here is durable and live here: tell every other worker and instance."""
        if self.announcements is not None:
            await self.announcements.announce("configuration")

    async def _announced(self, what: str) -> None:
        """Another worker or instance changed the configuration: load it (partners, certificates, rules)."""
        log.info("configuration change announced by another worker: reloading (%s)", what)
        if self.risk_rules is not None:
            self.risk_rules.maybe_reload()
        await audited_reload(self, actor="announcement")

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.store.ping()
            checks["store"] = "ok"
        except Unavailable as exc:
            checks["store"] = exc.message
        connection = getattr(self, "connection", None)
        # A robust connection is not "closed" while it reconnects: ``connected`` tells whether it is up now.
        up = connection is not None and not connection.is_closed and connection.connected.is_set()
        checks["broker"] = "ok" if up else "not connected"
        return checks

    def refresh_gauges(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.metrics.certificate_days.clear()  # a removed partner or certificate leaves no stale series
        for partner in self.registry.values():
            for cert in partner.certificates:
                self.metrics.certificate_days.labels(partner.id, cert.path.name).set(round(cert.days_left(now), 2))
