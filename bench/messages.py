"""The load: signed canonical risk alerts of a fixed size, all signed before any timed phase.

The size is that of the envelope *before* signing (what the gateway maps and publishes to the broker, so the
broker floor compares like with like); the enveloped signature with its embedded certificate adds ~2.1 KB to
what is POSTed. Both sizes are reported. The example alert is fitted to the size by dropping or repeating its
risk indicators and then trimming or padding the last indicator's description.

Signing happens in worker processes, so the load generator's own signing costs nothing during the
measurements, with one of the signature profiles partners use (``--signature``, :data:`PROFILES`): the
gateway's own :class:`gateway.security.signatures.Signer` (what ``gateway send`` uses: C14N 1.0, certificate in
KeyInfo), or signxml's ``XMLSigner`` with its defaults (C14N 1.1, RSA-SHA256, certificate in KeyInfo), with
C14N 1.0 or exclusive C14N instead, or with its KeyInfo removed (the partner's pinned certificate is used).

``--load`` other than the risk alert (the per-format rows of issue 15): a CEB311 order or a CEB621 inventory
from the single window signed SM2-SM3, or a DEC-DMS declaration (RSA, the gateway's Signer), each built by the
test suite's builders with a business key of its own (order number, LRN).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.security.certificates import load_certificate, load_private_key
from gateway.security.signatures import Signer
from gateway.security.sm2 import Sm2Signer, load_sm2_signer
from gateway.security.xml import to_bytes

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "risk-alert.xml"
ENV = "urn:customs-gateway:envelope:1"
WCO = "urn:customs-gateway:wco:1"
_MIN_DESCRIPTION, _MAX_DESCRIPTION = 20, 512  # the canonical schema's Text512Type
_FILLER = " Further consignments under review by the issuing administration; details follow."


@dataclass(frozen=True)
class Prepared:
    sender: str
    receiver: str
    message_id: str
    body: bytes


def _header(root: etree._Element, name: str, value: str) -> None:
    element = root.find(f"{{{ENV}}}Header/{{{ENV}}}{name}")
    assert element is not None, name
    element.text = value


def _size(root: etree._Element) -> int:
    return len(to_bytes(root))


def fitted_template(target_bytes: int) -> bytes:
    """The example alert with header placeholders of typical length, fitted to ``target_bytes`` unsigned."""
    root = etree.fromstring(EXAMPLE.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
    _header(root, "MessageID", "B0000000000-p1-0000000")
    _header(root, "Sender", "bench-tx-1")
    _header(root, "Receiver", "bench-rx-1")
    _header(root, "CreationDateTime", "2026-01-01T00:00:00Z")
    alert = root.find(f"{{{ENV}}}Body/{{{WCO}}}RiskAlert")
    assert alert is not None
    indicators = alert.findall(f"{{{WCO}}}Indicator")
    while _size(root) > target_bytes and len(indicators) > 1:
        alert.remove(indicators.pop())
    while _size(root) < target_bytes - _MAX_DESCRIPTION:
        twin = copy.deepcopy(indicators[-1])
        indicators[-1].addnext(twin)
        indicators.append(twin)
    description = indicators[-1].find(f"{{{WCO}}}Description")
    assert description is not None
    assert description.text
    wanted = len(description.text) + target_bytes - _size(root)
    wanted = max(_MIN_DESCRIPTION, min(_MAX_DESCRIPTION, wanted))
    text = description.text
    while len(text) < wanted:
        text += _FILLER
    description.text = text[:wanted].rstrip() + "." if wanted < len(text) else text
    return to_bytes(root)


# The signature profiles of ``--signature``: the canonicalisation signxml is told to use, and whether KeyInfo
# (with the certificate) stays in the signature. "gateway" is the gateway's own Signer.
PROFILES: dict[str, tuple[str | None, bool]] = {
    "gateway": (None, True),
    "signxml": ("http://www.w3.org/2006/12/xml-c14n11", True),  # signxml's defaults
    "signxml-c14n10": ("http://www.w3.org/TR/2001/REC-xml-c14n-20010315", True),
    "signxml-exc": ("http://www.w3.org/2001/10/xml-exc-c14n#", True),
    "signxml-nokeyinfo": ("http://www.w3.org/2006/12/xml-c14n11", False),
}
DS = "http://www.w3.org/2000/09/xmldsig#"


class _SignxmlSigner:
    """A partner signing with signxml's ``XMLSigner`` (RSA-SHA256, SHA-256 digest, the profile's C14N)."""

    def __init__(self, key_path: Path, cert_path: Path, c14n: str, key_info: bool) -> None:
        from signxml import XMLSigner
        from signxml.algorithms import CanonicalizationMethod

        self.signer = XMLSigner(c14n_algorithm=CanonicalizationMethod(c14n))
        self.key = load_private_key(key_path)
        self.cert = cert_path.read_text()
        self.key_info = key_info

    def sign(self, root: etree._Element) -> etree._Element:
        signed: etree._Element = self.signer.sign(root, key=self.key, cert=self.cert)
        if not self.key_info:  # KeyInfo is not signed: a partner that leaves it out sends this
            for element in signed.findall(f"{{{DS}}}Signature/{{{DS}}}KeyInfo"):
                element.getparent().remove(element)
        return signed


# Worker-process state: one signer per sender, keys loaded once (as the gateway does).
_signers: dict[str, Signer | _SignxmlSigner | Sm2Signer] = {}
_template: bytes = b""
_load = "risk-alert"


def _init_worker(
    template: bytes, keys: dict[str, tuple[str, str]], profile: str = "gateway", load: str = "risk-alert"
) -> None:
    global _template, _load
    _template, _load = template, load
    c14n, key_info = PROFILES[profile]
    for sender, (key_path, cert_path) in keys.items():
        if load.startswith("ceb"):  # a CEB signing device: SM2-SM3
            _signers[sender] = load_sm2_signer(Path(key_path), Path(cert_path))
        elif c14n is None or load != "risk-alert":
            key = load_private_key(Path(key_path))
            _signers[sender] = Signer(key, load_certificate(Path(cert_path)).certificate)
        else:
            _signers[sender] = _SignxmlSigner(Path(key_path), Path(cert_path), c14n, key_info)


def _format_message(message_id: str) -> etree._Element:
    """A fresh message of the other loads, from the test suite's builders (unique business keys)."""
    if _load == "dec-dms":
        from tests.ingress.test_follow_ups import declaration

        return declaration(message_id)  # its LRN (FunctionalReferenceID)
    from tests.formats import ceb_samples

    purchase = ceb_samples.Purchase(order_no=message_id, logistics_no=f"L{message_id}")
    return ceb_samples.order(purchase) if _load == "ceb311-sm2" else ceb_samples.inventory(purchase)


def _sign_chunk(jobs: list[tuple[str, str, str]]) -> list[bytes]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    bodies = []
    for sender, receiver, message_id in jobs:
        if _load != "risk-alert":
            bodies.append(to_bytes(_signers[sender].sign(_format_message(message_id))))
            continue
        root = etree.fromstring(_template, parser)
        _header(root, "MessageID", message_id)
        _header(root, "Sender", sender)
        _header(root, "Receiver", receiver)
        _header(root, "CreationDateTime", now)
        bodies.append(to_bytes(_signers[sender].sign(root)))
    return bodies


def signing_pool(
    template: bytes,
    keys: dict[str, tuple[Path, Path]],
    workers: int,
    profile: str = "gateway",
    load: str = "risk-alert",
) -> ProcessPoolExecutor:
    """Worker processes that sign as the given senders ("spawn": nothing of this process's loop is copied)."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(template, {s: (str(k), str(c)) for s, (k, c) in keys.items()}, profile, load),
    )


def plan(tag: str, count: int, senders: list[str], receivers: list[str]) -> list[tuple[str, str, str]]:
    """Who sends what to whom: senders and receivers in turn, fresh message ids."""
    return [(senders[i % len(senders)], receivers[i % len(receivers)], f"{tag}-{i:07d}") for i in range(count)]


async def sign_all(pool: Executor, jobs: list[tuple[str, str, str]], chunk: int = 50) -> list[Prepared]:
    loop = asyncio.get_running_loop()
    chunks = [jobs[i : i + chunk] for i in range(0, len(jobs), chunk)]
    results = await asyncio.gather(*(loop.run_in_executor(pool, _sign_chunk, c) for c in chunks))
    bodies = [body for result in results for body in result]
    return [Prepared(s, r, m, b) for (s, r, m), b in zip(jobs, bodies, strict=True)]
