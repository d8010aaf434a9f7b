"""Per-message cost of AS4 in and out, next to the HTTP path's own security work (no network, no broker).

``python -m bench.as4_cost [--iterations N] [--message-bytes B]`` times, for one signed canonical envelope:

    http in     verify the envelope's XML-DSig (what the HTTP inbox does before the shared pipeline)
    as4 in      parse a signed + encrypted UserMessage carrying that envelope (MIME, decrypt, verify the
                WS-Security signature, inflate), sign the receipt; then the same pipeline as HTTP follows,
                including the envelope's own signature check above
    http out    sign the envelope for the receiver (the HTTP transport's only security work)
    as4 out     the same signature, then build the UserMessage (compress, sign, encrypt) and check the
                receiver's receipt (signature and NonRepudiationInformation)

Mean and median in milliseconds over N runs (200 by default) after a warm-up. RSA-2048 keys throughout.
Measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4 import signals
from gateway.as4.message import Expectation, Limits, Party, Payload, UserMessage, build, new_message_id, parse
from gateway.as4.wss import Credentials
from gateway.security.certificates import TrustedCertificate, new_key_and_certificate
from gateway.security.signatures import SignatureVerifier, Signer
from gateway.security.xml import parse_xml, to_bytes

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "risk-alert.xml"


def _identity(name: str) -> Credentials:
    key, cert = new_key_and_certificate(name)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Credentials(key, cert)


def _time(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    for _ in range(max(5, iterations // 10)):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.fmean(samples), statistics.median(samples)


def run(iterations: int, message_bytes: int) -> dict[str, tuple[float, float]]:
    peer, gateway = _identity("peer"), _identity("gateway")
    root = etree.fromstring(EXAMPLE.read_bytes())
    header = root.find("{urn:customs-gateway:envelope:1}Header")
    assert header is not None
    header.find("{urn:customs-gateway:envelope:1}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    padding = etree.Comment("x" * max(0, message_bytes - len(etree.tostring(root))))
    root.append(padding)
    document = to_bytes(Signer(peer.key, peer.certificate).sign(root))
    der = peer.certificate.public_bytes(serialization.Encoding.DER)
    trusted = TrustedCertificate(peer.certificate, Path("peer.crt"), hashlib.sha256(der).hexdigest(), der)
    verifier = SignatureVerifier("peer", (trusted,), [])
    um = UserMessage(
        message_id=new_message_id("peer"),
        from_party=Party("PEER-AP"),
        to_party=Party("GW-AP", role=c.RESPONDER),
        service="urn:s",
        action="RiskAlert",
        conversation_id="c",
    )
    incoming = build(um, [Payload("doc@peer", document)], peer, encrypt_for=gateway.certificate)
    expectation = Expectation("peer", "risk-alert", (peer.certificate,), True)

    def http_in() -> None:
        verifier.verify(parse_xml(document), now=dt.datetime.now(dt.UTC))

    def as4_in() -> None:
        got = parse(
            incoming.content_type,
            incoming.body,
            agreements=lambda _um: expectation,
            credentials=gateway,
            limits=Limits(),
        )
        signals.receipt(um.message_id, got.references, gateway)

    gateway_signer = Signer(gateway.key, gateway.certificate)
    received = parse(incoming.content_type, incoming.body, agreements=lambda _um: expectation, credentials=gateway)
    canonical = parse_xml(received.payloads[0].data)

    def http_out() -> None:
        to_bytes(gateway_signer.sign(canonical))

    # The peer's receipt for one outgoing message, made once: checking it is part of every send.
    out_um = UserMessage(
        message_id=new_message_id("gw"),
        from_party=Party("GW-AP"),
        to_party=Party("PEER-AP", role=c.RESPONDER),
        service="urn:s",
        action="RiskAlert",
        conversation_id="c",
    )

    def as4_out() -> None:
        signed = to_bytes(gateway_signer.sign(canonical))
        out = build(out_um, [Payload("payload@gw", signed)], gateway, encrypt_for=peer.certificate)
        receipt = signals.receipt(out.message_id, out.references, peer)  # the peer's work, not timed apart
        signals.check("", receipt, sent_message_id=out.message_id, sent=out.references, signers=[peer.certificate])

    results = {
        "http in (verify XML-DSig)": _time(http_in, iterations),
        "as4 in (parse, decrypt, verify WS-Security, inflate, sign receipt)": _time(as4_in, iterations),
        "http out (sign)": _time(http_out, iterations),
        "as4 out (sign, build+encrypt, check receipt; incl. the peer signing it)": _time(as4_out, iterations),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.as4_cost", description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--message-bytes", type=int, default=3072)
    args = parser.parse_args()
    results = run(args.iterations, args.message_bytes)
    print(f"AS4 vs HTTP security work per message ({args.message_bytes}-byte envelope, {args.iterations} runs)")
    for name, (mean, median) in results.items():
        print(f"  {name:75s} mean {mean:7.3f} ms  median {median:7.3f} ms")


if __name__ == "__main__":
    main()
