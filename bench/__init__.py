"""Benchmarks of the gateway against its floors (DESIGN.md section 6); run with ``python -m bench``.

One run measures the crypto floor (raw RSA-2048 sign + verify on one core), the broker floor (confirmed
persistent publish and consume+ack of ~3 KB messages to a quorum queue) and the real gateway end to end in a
subprocess, then prints the ratios and writes everything to ``bench/results/<timestamp>.json``.
Performance is measured here, never asserted in tests.
"""
