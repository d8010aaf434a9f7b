"""RabbitMQ: topology, confirmed publishing and settlement. The only package besides ingress/delivery that
imports aio-pika."""
