"""Connectivity check: POST one test document to a partner's inbox and say what happened, in words.

Unlike a delivery (:mod:`gateway.delivery.http`) nothing is retried or recorded, and every outcome is a value,
never an exception: the host name did not resolve, the connection was refused, TLS failed, no answer in time,
or an HTTP answer with its status and first bytes. aiohttp's errors are translated here, in one place.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

ANSWER_BYTES = 512  # of the partner's answer, kept for the report

# Outcomes, most specific first (the aiohttp classes nest: a DNS or TLS error is a connector error too).
ANSWERED = "answered"
DNS = "dns"
TLS = "tls"
CONNECT = "connect"
TIMEOUT = "timeout"
DISCONNECTED = "disconnected"
URL = "url"
HTTP_ERROR = "http-error"


@dataclass(frozen=True)
class Probe:
    outcome: str
    seconds: float
    status: int | None = None
    answer: bytes = b""
    detail: str = ""  # what went wrong, for outcomes other than ANSWERED


async def probe(url: str, body: bytes, headers: Mapping[str, str], *, seconds: float) -> Probe:
    """POST ``body`` to ``url`` (no redirects followed, as deliveries do) and report how it went."""
    started = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url,
                data=body,
                headers={"Content-Type": "application/xml; charset=utf-8", **headers},
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response,
        ):
            answer = await response.content.read(ANSWER_BYTES)
            return Probe(ANSWERED, time.perf_counter() - started, response.status, answer)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        outcome, detail = classify(exc, seconds)
        return Probe(outcome, time.perf_counter() - started, detail=detail)


def classify(exc: BaseException, seconds: float) -> tuple[str, str]:
    """The outcome name and a one-line description of a failed request."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return DNS, f"the host name {exc.host!r} could not be resolved ({_reason(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        where = f" with {exc.host}:{exc.port}" if isinstance(exc, aiohttp.ClientConnectorError) else ""
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return TLS, f"the TLS handshake{where} failed: {_reason(cause)}"
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return TIMEOUT, f"no complete answer within {seconds:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECT, f"no connection to {exc.host}:{exc.port} ({_reason(exc.os_error)})"
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
        return URL, f"the URL cannot be used: {exc}"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | OSError):
        return DISCONNECTED, f"the connection broke before a complete answer: {_reason(exc)}"
    return HTTP_ERROR, f"the answer could not be read: {type(exc).__name__}: {exc}"


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message} (checked against the system's CA store)"
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    if isinstance(error, socket.gaierror):
        return error.strerror or str(error)
    if isinstance(error, OSError) and error.errno:  # asyncio's strerror ("Connect call failed ...") says less
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
