"""Fuzzing parse -> verify -> validate -> map -> sign with mutated signed messages (hypothesis).

Each example starts from a valid signed message (RSA-SHA256 or SM2-SM3: the partner pins one certificate of
each) and mutates bytes, tokens or the tree, sometimes re-signing the mutated tree with one of the partner's
keys so that hostile content gets past the signature into validation and mapping. The only outcomes allowed
are success or a ``Rejection``; any other exception is a bug (it would be a 500 at the inbox).

In ``make test``: 200 examples, derandomised (the same every run, no example database). By hand, longer:

    FUZZ_EXAMPLES=200000 FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/security/test_fuzz.py \\
        --timeout 0 -p no:cacheprovider -q     # stop it with Ctrl-C or `timeout 300 ...`
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import Rejection
from gateway.formats.canonical import CanonicalAdapter
from gateway.security.certificates import load_certificate, load_sm2_private_key, new_key_and_certificate
from gateway.security.certificates import write_key_and_certificate as write_key
from gateway.security.signatures import SignatureVerifier, Signer
from gateway.security.sm2 import CHINAPORT_SM2_SM3, CHINAPORT_SM3, Sm2Signer
from gateway.security.verified import DS
from gateway.security.xml import parse_xml, to_bytes
from tests.helpers import envelope
from tests.security.conftest import SENDER, cached_identity
from tests.security.forge import forge

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"

TOKENS = [
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b"&a;",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?pi x?>",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b'"',
    b"'",
    b"<",
    b">",
    b"/>",
    b"</",
    b'xmlns=""',
    b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"',
    b"ds:",
    b"<ds:Signature>",
    b"</ds:Signature>",
    b'URI="#x"',
    b'Id="x"',
    b'xml:id="x"',
    b"xi:include",
    b'Algorithm=""',
    b"==",
    b"\r\n",
    b" " * 100,
    b"<Envelope>",
    b"</Envelope>",
    b"<Body/>",
    b"risk-alert",
    b"declaration",
    b"99999-01-01T00:00:00Z",
    f'Algorithm="{CHINAPORT_SM2_SM3}"'.encode(),
    f'Algorithm="{CHINAPORT_SM3}"'.encode(),
    b'Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"',
    b'xmlns="relative/ns"',
    b"<ds:SignedInfo/>",
]
NAMES = [
    "Envelope",
    "Header",
    "Body",
    "MessageID",
    "MessageType",
    "Sender",
    "Receiver",
    "CreationDateTime",
    "RiskAlert",
    "RiskArea",
    "Signature",
    "SignedInfo",
    "Reference",
    "Transform",
    "Object",
    "KeyInfo",
    "x",
]
NAMESPACES = [
    "urn:customs-gateway:envelope:1",
    "urn:customs-gateway:wco:1",
    DS,
    "http://www.w3.org/2001/XInclude",
    "",
]


@dataclass(frozen=True)
class Target:
    seeds: tuple[bytes, ...]
    signers: tuple[object, ...]  # re-sign with these (the partner's RSA key via forge, its SM2 Sm2Signer)
    verifier: SignatureVerifier
    signer: Signer
    adapter: CanonicalAdapter
    now: dt.datetime


@dataclass(frozen=True)
class RsaResigner:
    key: object
    cert: object

    def sign(self, root: etree._Element) -> etree._Element:
        return forge(root, self.key, self.cert)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    return make_target(tmp_path_factory.mktemp("fuzz"))


def make_target(folder: Path) -> Target:
    partner = cached_identity(folder, SENDER)
    gateway = cached_identity(folder, "gw-test")
    sm2_key, sm2_cert = new_key_and_certificate(f"{SENDER}-sm2", algorithm="sm2")
    write_key(sm2_key, sm2_cert, folder / "sm2.key", folder / "sm2.crt")
    sm2 = Sm2Signer(load_sm2_private_key(folder / "sm2.key"), sm2_cert)
    verifier = SignatureVerifier(SENDER, [load_certificate(partner.cert_path), load_certificate(folder / "sm2.crt")])
    seeds = tuple(
        to_bytes(signer.sign(envelope(SENDER, receiver, example=example)))
        for signer in (partner.signer, sm2)
        for example in ("risk-alert.xml", "risk-alert-drugs.xml")
        for receiver in ("de-customs", None)
    )
    return Target(
        seeds,
        (RsaResigner(partner.key, partner.cert), sm2),
        verifier,
        gateway.signer,
        CanonicalAdapter(),
        dt.datetime.now(dt.UTC),
    )


def run_pipeline(target: Target, body: bytes) -> None:
    """Steps 2-7 of the inbox and the delivery's map + sign: raises only Rejection on bad input."""
    root = parse_xml(body, max_depth=64)
    target.adapter.identify(root)
    verified = target.verifier.verify(root, now=target.now)
    info = target.adapter.identify(verified.xml)
    target.adapter.validate(verified.xml)
    canonical = target.adapter.to_canonical(verified.xml, info, SENDER)
    target.adapter.validate(canonical)
    outgoing = target.adapter.from_canonical(canonical, "de-customs")
    to_bytes(target.signer.sign(outgoing))


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate", "token"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        elif kind == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 400)))
            data = data[:end] + data[at:end] + data[end:]
        elif kind == "truncate":
            data = data[:at]
        else:
            data = data[:at] + draw(st.sampled_from(TOKENS)) + data[at + draw(st.integers(0, 8)) :]
    return data


ATTRIBUTES = [
    "Id",
    "Algorithm",
    "URI",
    "{http://www.w3.org/XML/1998/namespace}id",
    "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation",
    "a",
]
TREE_EDITS = ["text", "attribute", "remove", "duplicate", "move", "comment", "rename", "tail"]


@st.composite
def tree_mutation(draw: st.DrawFn, data: bytes) -> tuple[etree._Element, bool]:
    """Mutate the parsed tree; the bool says whether to re-sign it (hostile content, valid signature)."""
    root = etree.fromstring(data)
    resign = draw(st.booleans())
    if resign:
        for old in root.findall(f"{{{DS}}}Signature"):
            root.remove(old)
    for _ in range(draw(st.integers(1, 3))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]  # not comments or PIs
        with contextlib.suppress(ValueError):  # lxml refuses some values (control characters, bad names)
            _edit(draw, draw(st.sampled_from(elements)), elements, draw(st.sampled_from(TREE_EDITS)))
    return root, resign


def _edit(draw: st.DrawFn, element: etree._Element, elements: list[etree._Element], kind: str) -> None:
    text = draw(st.text(max_size=40))
    parent = element.getparent()
    if kind == "text":
        element.text = text
    elif kind == "tail":
        element.tail = text
    elif kind == "attribute":
        element.set(draw(st.sampled_from(ATTRIBUTES)), text)
    elif kind == "comment":
        element.insert(0, etree.Comment(text.replace("--", "-") or "x"))
    elif kind == "rename":
        namespace, local = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(NAMES))
        element.tag = f"{{{namespace}}}{local}" if namespace else local
    elif parent is None:
        return
    elif kind == "remove":
        parent.remove(element)
    elif kind == "duplicate":
        element.addnext(copy.deepcopy(element))
    else:  # move
        destination = draw(st.sampled_from(elements))
        if element not in destination.iterancestors() and destination is not element:
            destination.append(element)


@st.composite
def hostile_message(draw: st.DrawFn, seeds: tuple[bytes, ...], signers: tuple[object, ...]) -> bytes:
    seed = draw(st.sampled_from(seeds))
    if draw(st.booleans()):
        return draw(byte_mutation(seed))
    root, resign = draw(tree_mutation(seed))
    if resign:
        with contextlib.suppress(ValueError, IndexError):  # e.g. the mutation left a signature in place
            root = draw(st.sampled_from(signers)).sign(root)  # type: ignore[attr-defined]
    return to_bytes(root)


def test_fuzz_parse_verify_validate_only_rejects(target: Target) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=[Phase.generate, Phase.shrink] if RANDOM else [Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(body=hostile_message(target.seeds, target.signers))
    def fuzz(body: bytes) -> None:
        with contextlib.suppress(Rejection):
            run_pipeline(target, body)

    fuzz()


def test_fuzz_seeds_pass_the_whole_pipeline(target: Target) -> None:
    """The unmutated seeds are accepted: a fuzzer that only ever sees rejections tests very little."""
    for seed in target.seeds:
        run_pipeline(target, seed)
