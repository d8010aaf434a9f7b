"""Everything one running gateway holds, opened in order and closed in reverse.

A :class:`Runtime` is built from the settings (partner files, keys, token, rules: a bad one fails here, before
serving); ``start()`` opens the store, the broker connection, the publisher, the controls, ingress and the
delivery workers and gives a :class:`Started` (``runtime.started``: asking before start raises a helpful
``NotStarted``). Partner reloads (SIGHUP, the admin API, the folder watcher) are the runtime's own ``reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from gateway import health
from gateway.admin.messages import Broker
from gateway.admin.partners import PartnerAdmin, audit
from gateway.admin.token import admin_token
from gateway.as4.inbox import As4Inbox, load_credentials
from gateway.broker.announce import Announcements
from gateway.broker.connection import connect
from gateway.broker.lane import FastLane
from gateway.broker.publisher import Publisher
from gateway.broker.topology import Topology
from gateway.config import Settings
from gateway.controls.service import Controls, load_rules, load_watchlist, open_controls
from gateway.delivery.as4 import As4Transport
from gateway.delivery.http import HttpTransport
from gateway.delivery.transport import Transport, Transports
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import ConfigError, Unavailable
from gateway.formats import FormatAdapter, default_adapters
from gateway.images import open_images
from gateway.images.retention import Retention
from gateway.images.store import ImageStore
from gateway.ingress.admission import Admission
from gateway.ingress.pipeline import Ingress
from gateway.metrics import Metrics
from gateway.partners import PartnerRegistry, load_partners
from gateway.partners.files import PartnerFolder
from gateway.partners.model import Partner
from gateway.partners.registry import RegistryChanges, compare
from gateway.partners.watch import FolderWatcher, fingerprint
from gateway.security.keyring import Keyring, load_keyring
from gateway.store import Store, open_store

log = logging.getLogger(__name__)


class NotStarted(Unavailable):
    """Asked for a part of the runtime that ``start()`` opens, before it did (or after ``close()``)."""


@dataclass(frozen=True)
class Started:
    """What ``Runtime.start()`` opened: present together, or not at all."""

    connection: AbstractRobustConnection
    publisher: Publisher
    announcements: Announcements  # configuration changes, told to and heard from every other worker
    ingress: Ingress
    controls: Controls | None  # None: [controls] matching and monitoring are off
    worker: DeliveryWorker | None  # None: started with deliver=False (ingress-only)
    as4_inbox: As4Inbox | None  # None: no [as4] section


class Runtime:
    def __init__(self, settings: Settings, adapters: Mapping[str, FormatAdapter] | None = None) -> None:
        self.settings = settings
        self.adapters = dict(adapters or default_adapters())
        self.registry: PartnerRegistry = load_partners(settings.partners_dir, frozenset(self.adapters))
        # The gateway's signing identities; a partner wanting an algorithm without a key refuses the start.
        self.keyring: Keyring = load_keyring(settings)
        self.keyring.check(self.registry.values())
        self.token = admin_token(settings.resolve(settings.admin.token_file))
        self.metrics = Metrics(settings.instance)
        self.topology = Topology(
            settings.amqp.prefix,
            settings.amqp.delivery_limit,
            tuple(settings.delivery.retry_delays),
            frozenset(settings.fairness.urgent_types),
        )
        self.store: Store = open_store(settings.store.url, settings.sqlite_path)
        # Images of inspection results (claim check): files under [images] dir, or PostgreSQL.
        self.images: ImageStore = open_images(settings.resolve(settings.images.dir), settings.images.url)
        self.lane = FastLane()  # urgent work in hand in this process: bulk ingress and delivery give way to it
        # Quotas, shedding and the admission queue of this process (its state lives as long as the runtime).
        self.admission = Admission(
            self.store,
            settings.quotas,
            settings.fairness,
            refused=self.metrics.refused,
            in_flight_changed=self.metrics.in_flight,
            lane=self.lane,
        )
        self.config_lock = asyncio.Lock()  # held by whoever changes partner files and reloads
        self.risk_rules = load_rules(settings)  # a bad rule file fails here, before serving
        self.watchlist = load_watchlist(settings)  # so does a bad watch-list file
        self._stack = contextlib.AsyncExitStack()
        self._started: Started | None = None
        self._watcher: FolderWatcher | None = None

    def partners(self) -> Mapping[str, Partner]:
        return self.registry

    # The started state ------------------------------------------------------------------------------------

    @property
    def started(self) -> Started:
        if self._started is None:
            raise NotStarted("the gateway is not started (or is stopping): no broker connection, no ingress yet")
        return self._started

    @property
    def is_started(self) -> bool:
        return self._started is not None

    @property
    def ingress(self) -> Ingress:
        return self.started.ingress

    @property
    def publisher(self) -> Publisher:
        return self.started.publisher

    @property
    def controls(self) -> Controls | None:
        return self.started.controls

    @property
    def worker(self) -> DeliveryWorker | None:
        return self.started.worker

    @property
    def as4_inbox(self) -> As4Inbox | None:
        return self.started.as4_inbox

    def broker(self) -> Broker:
        """The broker as operator actions use it (gateway.admin.messages)."""
        started = self.started
        return Broker(started.connection, started.publisher, self.topology, self.settings.amqp.publish_timeout)

    async def start(self, *, deliver: bool = True) -> None:
        await self.store.open()
        self._stack.push_async_callback(self.store.close)
        await self.images.open()
        self._stack.push_async_callback(self.images.close)
        retention = Retention(self.images, self.settings.images.retention_days)
        retention.start()
        self._stack.push_async_callback(retention.close)
        connection = await connect(self.settings.amqp.nodes, self.settings.amqp.heartbeat)
        self._stack.push_async_callback(connection.close)
        publisher = Publisher(connection, self.topology, self.settings.amqp.publish_timeout)
        await publisher.start()
        self._stack.push_async_callback(publisher.close)
        announcements = Announcements(connection, publisher, self.settings.amqp.prefix, self._announced)
        await announcements.start()
        self._stack.push_async_callback(announcements.close)
        controls = open_controls(
            self.settings,
            rules=self.risk_rules,
            watchlist=self.watchlist,
            messages=self.store,
            publisher=publisher,
            topology=self.topology,
            partners=self.partners,
            signer=self.keyring,  # signs with the default key in use now (for no partner in particular)
        )
        if controls is not None:
            self._stack.push_async_callback(controls.close)
            controls.start()
        ingress = Ingress(
            participant_id=self.settings.gateway.id,
            partners=self.partners,
            adapters=self.adapters,
            keyring=self.keyring,
            store=self.store,
            publisher=publisher,
            topology=self.topology,
            rules=self.settings.routing.rules,
            security=self.settings.security,
            controls=controls,
            images=self.images,
            image_settings=self.settings.images,
        )
        as4_inbox = None
        if self.settings.as4 is not None:
            credentials, decryption_key = load_credentials(self.settings)
            as4_inbox = As4Inbox(
                section=self.settings.as4,
                credentials=credentials,
                decryption_key=decryption_key,
                partners=self.partners,
                pipeline=ingress,
                store=self.store,
                max_depth=self.settings.security.max_depth,
                max_body_bytes=self.settings.http.max_body_bytes,
                admit=lambda partner, message_type: self.admission.admit(self.partners()[partner], message_type),
            )
        worker = None
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
            worker = DeliveryWorker(
                connection=connection,
                topology=self.topology,
                partners=self.partners,
                adapters=self.adapters,
                keyring=self.keyring,
                store=self.store,
                transports=transports,
                publisher=publisher,
                settings=self.settings.delivery,
                observe=self.metrics.observe_delivery,
                lane=self.lane,
                images=self.images,
            )
            await worker.start()
            self._stack.push_async_callback(worker.close)
        else:
            # Ingress alone still needs the receivers' queues, or publishes would be unroutable.
            channel = await connection.channel()
            receivers = [p.id for p in self.registry.values() if p.spec.receives]
            await self.topology.declare_receivers(channel, receivers)
            await channel.close()
        self._started = Started(connection, publisher, announcements, ingress, controls, worker, as4_inbox)
        self._stack.callback(self._stopped)
        self.refresh_gauges()
        self._stack.push_async_callback(self.watch())

    def _stopped(self) -> None:
        self._started = None

    async def close(self) -> None:
        await self._stack.aclose()

    # Partner reloads -------------------------------------------------------------------------------------

    async def reload(self, *, actor: str, trigger: str | None = None) -> RegistryChanges:
        """An audited reload (SIGHUP, admin API, folder watcher). Refused: ConfigError, running set unchanged.
        ``actor``: who, for the audit log and the log line; ``trigger`` (default: the actor): how, for the metric;
        an ``admin-api`` reload is announced to the other workers."""
        trigger = trigger or actor
        async with self.config_lock:
            seen = fingerprint(self.settings.partners_dir)
            try:
                changes = await self._swap_partners()
            except (ConfigError, Unavailable) as exc:
                self.metrics.config_reloads.labels(trigger, "refused").inc()
                log.error(
                    "partner configuration refused (%s); the running configuration stays:\n%s", actor, exc.message
                )
                await audit(self._audit_store, actor, "reload-refused", None, detail=exc.message)
                raise
            finally:
                if self._watcher is not None:
                    self._watcher.seen = seen
            self.metrics.config_reloads.labels(trigger, "applied").inc()
            self._after_reload()
            log.info("partner configuration reloaded (%s): %s", actor, changes.describe())
            if changes and actor != "announcement":  # audited once, by the worker that made the change
                await audit(self._audit_store, actor, "reload", None, detail=changes.describe())
            if trigger == "admin-api":
                self._reload_controls()
                await self.announce()
            return changes

    @property
    def _audit_store(self) -> Store | None:
        return self.store if self.is_started else None  # the store is open from start() to close()

    def partner_admin(self, actor: str) -> PartnerAdmin:
        """Partner changes made live at once: written, reloaded (refused: the files are restored), audited."""

        async def apply() -> RegistryChanges:
            seen = fingerprint(self.settings.partners_dir)
            changes = await self._swap_partners()
            if self._watcher is not None:
                self._watcher.seen = seen  # our own write: no second reload from the watcher
            self._after_reload()
            await self.announce()  # the files are written and fsynced: now every other worker loads them
            return changes

        folder = PartnerFolder(self.settings.partners_dir, frozenset(self.adapters))
        return PartnerAdmin(folder, self._audit_store, actor, apply, self.config_lock)

    async def _swap_partners(self) -> RegistryChanges:
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
        if new and self._started is not None:
            try:
                channel = await self._started.connection.channel()
                await self.topology.declare_receivers(channel, new)
                await channel.close()
            except Exception as exc:  # aio-pika's errors have no common base worth naming here
                raise Unavailable(f"the queues of {', '.join(new)} could not be declared: {exc!r}") from exc
        self.registry = registry
        if self._started is not None and self._started.worker is not None:
            await self._started.worker.consume(self._started.worker.receivers())
        self.refresh_gauges()
        return changes

    async def announce(self) -> None:
        """A configuration change made here is durable and live here: tell every other worker and instance."""
        if self._started is not None:
            await self._started.announcements.announce("configuration")

    async def _announced(self, what: str) -> None:
        """Another worker or instance changed the configuration: load it (partners, certificates, rules)."""
        log.info("configuration change announced by another worker: reloading (%s)", what)
        self._reload_controls()
        await self.reload(actor="announcement")

    def _reload_controls(self) -> None:
        """The risk rules and the watch list, when their files changed (a bad change keeps what is in force)."""
        if self.risk_rules is not None:
            self.risk_rules.maybe_reload()
        if self.watchlist is not None:
            self.watchlist.maybe_reload()

    def _after_reload(self) -> None:
        self._prime_counters()
        self.warn_expiring()

    def watch(self) -> Callable[[], Awaitable[None]]:
        """Start the folder watcher (if ``[admin] watch_interval`` > 0); returns what stops it."""
        self._after_reload()
        interval = self.settings.admin.watch_interval
        if interval <= 0:

            async def nothing() -> None:
                return None

            return nothing
        ticks_per_day = max(1, int(86400 / interval))
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            if ticks % ticks_per_day == 0:  # certificates age without any file changing
                self.warn_expiring()

        async def changed() -> None:
            # A refused change is logged and audited by reload, and tried again when the files change.
            with contextlib.suppress(ConfigError, Unavailable):
                await self.reload(actor="file-watch")

        self._watcher = FolderWatcher(self.settings.partners_dir, interval, changed, tick)
        task = asyncio.create_task(self._watcher.run(), name="partner-folder-watcher")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._watcher = None

        return stop

    # Health and gauges -------------------------------------------------------------------------------------

    def warn_expiring(self) -> None:
        health.warn_expiring(
            self.metrics, self.registry.values(), self.keyring, self.settings.admin.certificate_warning_days
        )

    def _prime_counters(self) -> None:
        health.prime_counters(self.metrics, self.registry.values())

    async def readiness(self) -> dict[str, str]:
        return await health.readiness(self.store, self._started.connection if self._started else None)

    def refresh_gauges(self) -> None:
        health.certificate_gauges(self.metrics, self.registry.values())

    async def refresh_queue_depths(self) -> None:
        if self._started is not None:
            await health.queue_depth_gauges(
                self.metrics, self.topology, self.registry.values(), self._started.connection
            )


RUNTIME = web.AppKey("runtime", Runtime)  # the runtime of an aiohttp application (gateway.app)
