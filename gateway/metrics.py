"""Prometheus metrics, one registry per gateway instance (tests build many).

With ``gateway run --workers N`` the supervisor gives its workers one folder in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode): each worker writes its values there and any worker answering
``/metrics`` sums them all, so one scrape shows the whole instance and a counter never goes backwards whichever
worker answers (the values of a worker that died stay in the sum). Every series carries ``instance`` (``[gateway]
instance``, default host name and port), so several gateways scraped by one Prometheus stay apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Instance(Collector):
    """Adds ``instance`` to every sample of ``source``."""

    def __init__(self, source: Collector, instance: str) -> None:
        self.source = source
        self.instance = instance

    def collect(self) -> Iterable[Metric]:
        for family in self.source.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                Sample(s.name, {"instance": self.instance, **s.labels}, s.value, s.timestamp, s.exemplar)
                for s in family.samples
            ]
            yield labelled


class Metrics:
    def __init__(self, instance: str = "") -> None:
        self.instance = instance
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        self.registry = CollectorRegistry()
        self.ingress = Counter(
            "gateway_ingress_messages",
            "Messages received at ingress, by partner, type and outcome (accepted, duplicate or rejection code)",
            ["partner", "type", "outcome"],
            registry=self.registry,
        )
        self.ingress_seconds = Histogram(
            "gateway_ingress_seconds",
            "Time to answer one ingress request",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingress_refused = Counter(
            "gateway_ingress_refused",
            "Requests refused before their body was read, by partner and reason: rate (over rate and burst, 429), "
            "in-flight (over max_in_flight, 429), shed (the gateway was behind, the partner among the heaviest, 503)",
            ["partner", "reason"],
            registry=self.registry,
        )
        self.ingress_in_flight = Gauge(
            "gateway_ingress_in_flight",
            "Requests of each partner being handled now (from before the body is read to the answer)",
            ["partner"],
            registry=self.registry,
            multiprocess_mode="livesum",  # summed over the live workers
        )
        self.deliveries = Counter(
            "gateway_deliveries",
            "Delivery attempts by receiver and outcome (delivered, retrying, failed, requeued)",
            ["receiver", "outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "gateway_delivery_seconds",
            "Time of one delivery attempt",
            ["receiver"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.certificate_days = Gauge(
            "gateway_certificate_days_to_expiry",
            "Days until each trusted partner certificate expires",
            ["partner", "certificate"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

        self.queue_depth = Gauge(
            "gateway_queue_depth",
            "Messages ready in each receiver's delivery and dead-letter queues (passive declare at each scrape)",
            ["receiver", "queue"],
            registry=self.registry,
            multiprocess_mode="mostrecent",  # set at each scrape by the worker answering it
        )
        self.certificates_expiring = Gauge(
            "gateway_certificates_expiring",
            "Trusted certificates of each partner expiring within [admin] certificate_warning_days (or expired)",
            ["partner"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.config_reloads = Counter(
            "gateway_config_reloads",
            "Partner configuration reloads by trigger and outcome (applied, refused)",
            ["trigger", "outcome"],
            registry=self.registry,
        )

    def refused(self, partner: str, reason: str) -> None:
        self.ingress_refused.labels(partner, reason).inc()

    def in_flight(self, partner: str, count: int) -> None:
        self.ingress_in_flight.labels(partner).set(count)

    def observe_delivery(self, receiver: str, outcome: str, seconds: float) -> None:
        self.deliveries.labels(receiver, outcome).inc()
        self.delivery_seconds.labels(receiver).observe(seconds)

    def _source(self) -> Collector:
        """This process's registry, or all the workers' values in multiprocess mode."""
        if not self.multiprocess:
            return self.registry
        combined = CollectorRegistry()
        MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return combined

    def render(self) -> bytes:
        exposition = CollectorRegistry(auto_describe=False)
        exposition.register(_Instance(self._source(), self.instance))
        return generate_latest(exposition)

    def samples(self, metric: Any) -> Iterator[tuple[dict[str, str], float]]:
        """(labels, value) of one metric over the whole instance (the console's traffic figures)."""
        name = metric._name  # prometheus_client keeps the family name here
        for family in self._source().collect():
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name in (name, f"{name}_total"):
                    yield dict(sample.labels), sample.value
