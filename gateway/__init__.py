"""Customs exchange gateway: verifies, maps, routes and delivers signed customs messages over RabbitMQ."""

__version__ = "0.1.0"
