"""What a running gateway tells about itself: readiness, the partner series primed at zero, certificate gauges
and expiry warnings, queue depths. Functions of the parts they read; :class:`gateway.runtime.Runtime` calls
them with its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from aio_pika.abc import AbstractRobustConnection

from gateway.admin.partners import expiry_warnings
from gateway.broker.depth import queue_depths
from gateway.broker.topology import Topology
from gateway.errors import Unavailable
from gateway.metrics import Metrics
from gateway.partners.model import Partner
from gateway.security.keyring import Keyring
from gateway.store import Store

log = logging.getLogger(__name__)


async def readiness(store: Store, connection: AbstractRobustConnection | None) -> dict[str, str]:
    """``ok`` or what is wrong, for the store and the broker (``connection`` None: not started)."""
    checks: dict[str, str] = {}
    try:
        await store.ping()
        checks["store"] = "ok"
    except Unavailable as exc:
        checks["store"] = exc.message
    if connection is None:
        checks["broker"] = "not started"
    else:
        # A robust connection is not "closed" while it reconnects: ``connected`` tells whether it is up now.
        up = not connection.is_closed and connection.connected.is_set()
        checks["broker"] = "ok" if up else "not connected"
    return checks


def warn_expiring(metrics: Metrics, partners: Iterable[Partner], keyring: Keyring, horizon: float) -> None:
    """Count, and log, the certificates (the partners' and the gateway's own) that expire within ``horizon`` days."""
    now = dt.datetime.now(dt.UTC)
    partners = list(partners)
    metrics.certificates_expiring.clear()
    for partner in partners:
        count = sum(1 for c in partner.certificates if c.days_left(now) < horizon)
        metrics.certificates_expiring.labels(partner.id).set(count)
    for line in expiry_warnings(partners, horizon, now):
        log.warning("certificate expiry: %s", line)
    for line in keyring.expiry_warnings(horizon, now):  # the gateway's own certificates
        log.warning("certificate expiry: %s", line)


def prime_counters(metrics: Metrics, partners: Iterable[Partner]) -> None:
    """Every partner's series exist from the start (at zero): dashboards and alerts see them early."""
    for partner in partners:
        for message_type in partner.spec.sends:
            metrics.ingress.labels(partner.id, message_type, "accepted")
        if partner.spec.sends:
            for reason in ("rate", "in-flight", "shed"):
                metrics.ingress_refused.labels(partner.id, reason)
        if partner.spec.receives:
            for outcome in ("delivered", "retrying", "failed"):
                metrics.deliveries.labels(partner.id, outcome)


def certificate_gauges(metrics: Metrics, partners: Iterable[Partner]) -> None:
    now = dt.datetime.now(dt.UTC)
    metrics.certificate_days.clear()  # a removed partner or certificate leaves no stale series
    for partner in partners:
        for cert in partner.certificates:
            metrics.certificate_days.labels(partner.id, cert.path.name).set(round(cert.days_left(now), 2))


async def queue_depth_gauges(
    metrics: Metrics, topology: Topology, partners: Iterable[Partner], connection: AbstractRobustConnection
) -> None:
    queues = {}
    for partner in partners:
        if partner.spec.receives:
            queues[topology.deliver_queue(partner.id)] = (partner.id, "deliver")
            queues[topology.urgent_queue(partner.id)] = (partner.id, "urgent")
            queues[topology.dead_queue(partner.id)] = (partner.id, "dead")
    depths = await queue_depths(connection, list(queues))
    if depths:
        metrics.queue_depth.clear()
    for name, depth in depths.items():
        metrics.queue_depth.labels(*queues[name]).set(depth)
