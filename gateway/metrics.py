"""Prometheus metrics, one registry per gateway instance (tests build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
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
        )

        self.queue_depth = Gauge(
            "gateway_queue_depth",
            "Messages ready in each receiver's delivery and dead-letter queues (passive declare at each scrape)",
            ["receiver", "queue"],
            registry=self.registry,
        )
        self.certificates_expiring = Gauge(
            "gateway_certificates_expiring",
            "Trusted certificates of each partner expiring within [admin] certificate_warning_days (or expired)",
            ["partner"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "gateway_config_reloads",
            "Partner configuration reloads by trigger and outcome (applied, refused)",
            ["trigger", "outcome"],
            registry=self.registry,
        )

    def observe_delivery(self, receiver: str, outcome: str, seconds: float) -> None:
        self.deliveries.labels(receiver, outcome).inc()
        self.delivery_seconds.labels(receiver).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
