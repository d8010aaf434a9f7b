"""Forged, misplaced, weak and wrapped signatures: the gateway acts only on what a pinned key signed."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import logging
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLVerifier

from gateway.cli import main as gateway_cli
from gateway.errors import CertificateExpired, CertificateUntrusted, ConfigError, Rejection, SignatureInvalid
from gateway.security.certificates import (
    Sm2PrivateKey,
    load_certificate,
    load_sm2_private_key,
    new_key_and_certificate,
    write_key_and_certificate,
)
from gateway.security.signatures import SignatureVerifier, Signer
from gateway.security.sm2 import Sm2Signer
from gateway.security.xml import parse_xml, to_bytes
from tests.helpers import FIXTURES, PartnerSpec, partner_toml, signed
from tests.security import forge
from tests.security.conftest import RECEIVER, SENDER, E, Gate, GateFactory, W, new_id

DS = forge.DS
VECTORS = FIXTURES / "xmldsig" / "interop"


def _signature(root: etree._Element) -> etree._Element:
    element = root.find(f"{{{DS}}}Signature")
    assert element is not None
    return element


async def test_unsigned_message_is_signature_invalid(gate: Gate) -> None:
    reply = await gate.post(to_bytes(gate.message()))
    await gate.assert_refused(reply, 401, "signature-invalid", "not signed")
    await gate.assert_unharmed()


async def test_tampered_message_is_signature_invalid(gate: Gate, subtests: pytest.Subtests) -> None:
    for where in ["content", "signature value", "signed info", "digest value"]:
        with subtests.test(str(where)):
            root = parse_xml(gate.valid())
            signature = _signature(root)
            if where == "content":
                root.find(f"{E}Body/{W}RiskAlert/{W}RiskArea").text = "drugs"
            elif where == "signature value":
                value = signature.find(f"{{{DS}}}SignatureValue")
                raw = bytearray(base64.b64decode(value.text))
                raw[len(raw) // 2] ^= 0x01
                value.text = base64.b64encode(bytes(raw)).decode()
            elif where == "signed info":
                signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference").set("Id", "x")
            else:
                digest = signature.find(f".//{{{DS}}}DigestValue")
                digest.text = base64.b64encode(b"\0" * 32).decode()
            reply = await gate.post(to_bytes(root))
            await gate.assert_refused(reply, 401, "signature-invalid", "does not verify", SENDER)
    await gate.assert_unharmed()


async def test_unknown_key_with_its_own_certificate_is_untrusted(gate: Gate) -> None:
    key, cert = forge.rsa_key_and_certificate(SENDER)  # same name, different key: a pretender
    reply = await gate.post(to_bytes(forge.forge(gate.message(), key, cert)))
    await gate.assert_refused(reply, 401, "certificate-untrusted", f"CN={SENDER}", "not one of partner")
    await gate.assert_unharmed()


async def test_unknown_key_without_key_info_is_signature_invalid(gate: Gate) -> None:
    key, _ = forge.rsa_key_and_certificate("anyone")
    reply = await gate.post(to_bytes(forge.forge(gate.message(), key, None)))
    await gate.assert_refused(reply, 401, "signature-invalid", "does not verify")
    await gate.assert_unharmed()


async def test_certificate_of_another_partner_is_untrusted(gate: Gate, subtests: pytest.Subtests) -> None:
    """de-customs signs (validly, with its own pinned key) and posts to nl-customs's inbox."""
    for claimed_sender in [SENDER, RECEIVER]:
        with subtests.test(str(claimed_sender)):
            body = signed(gate.identity(RECEIVER), gate.message(claimed_sender, SENDER))
            reply = await gate.post(body)
            await gate.assert_refused(reply, 401, "certificate-untrusted", f"CN={RECEIVER}", f"partner {SENDER}")
    await gate.assert_unharmed()


async def test_expired_and_not_yet_valid_certificates(gate: Gate, subtests: pytest.Subtests) -> None:
    for partner, words in [("expired-fr", "expired on"), ("future-be", "not valid before")]:
        with subtests.test(str(partner)):
            for key_info in (True, False):  # named in KeyInfo, or found among the pinned ones
                identity = gate.identity(partner)
                body = to_bytes(forge.forge(gate.message(partner), identity.key, identity.cert if key_info else None))
                reply = await gate.post(body, partner=partner)
                await gate.assert_refused(reply, 401, "certificate-expired", words, f"CN={partner}")
    await gate.assert_unharmed()


async def test_sha1_is_refused_by_default(gate: Gate, subtests: pytest.Subtests) -> None:
    for method, digest, words in [
        (forge.RSA_SHA1, forge.SHA1, ("signature algorithm", "rsa-sha1", "allowed: ")),
        (forge.RSA_SHA1, forge.SHA256, ("signature algorithm", "rsa-sha1")),
        (forge.RSA_SHA256, forge.SHA1, ("digest algorithm", "sha1", "allowed: ")),
    ]:
        with subtests.test(str(method)):
            identity = gate.identity()
            body = to_bytes(forge.forge(gate.message(), identity.key, identity.cert, method=method, digest=digest))
            reply = await gate.post(body)
            await gate.assert_refused(reply, 401, "signature-invalid", *words)
    await gate.assert_unharmed()


async def test_sha1_is_accepted_with_a_warning_when_the_partner_allows_it(gate: Gate, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.security.signatures")
    identity = gate.identity("legacy-cn")
    root = forge.forge(gate.message("legacy-cn"), identity.key, identity.cert, method=forge.RSA_SHA1, digest=forge.SHA1)
    for _ in range(2):  # logged on every use, not once
        root.find(f"{E}Header/{E}MessageID").text = new_id()
        body = to_bytes(
            forge.forge(_strip(root), identity.key, identity.cert, method=forge.RSA_SHA1, digest=forge.SHA1)
        )
        reply = await gate.post(body, partner="legacy-cn")
        assert (reply.status, reply.code) == (202, "accepted"), reply.body[:400]
    warnings = [r.getMessage() for r in caplog.records if "legacy signature accepted" in r.getMessage()]
    assert len(warnings) == 2
    assert "legacy-cn" in warnings[0]
    assert "rsa-sha1" in warnings[0]
    assert await gate.depth(RECEIVER) == 2


def _strip(root: etree._Element) -> etree._Element:
    for old in root.findall(f"{{{DS}}}Signature"):
        root.remove(old)
    return root


def test_rsa_1024_partner_certificate_is_refused_by_partners_check(tmp_path: Path, capsys) -> None:
    partners = tmp_path / "partners"
    (partners / "certs").mkdir(parents=True)
    _, cert = forge.rsa_key_and_certificate("weak-nl", bits=1024)
    (partners / "certs" / "weak-nl.crt").write_bytes(forge.pem(cert))
    (partners / "weak-nl.toml").write_text(partner_toml(PartnerSpec("weak-nl", receives=[]), ["certs/weak-nl.crt"]))
    assert gateway_cli(["partners", "check", str(partners)]) == 2
    err = capsys.readouterr().err
    assert "weak-nl.toml" in err
    assert "1024 bits" in err
    assert "2048" in err


def test_rsa_1024_certificate_is_refused_at_verify_time(tmp_path: Path, caplog) -> None:
    """A verifier built around the partner loader (or after a bad reload) still refuses the weak key."""
    key, cert = forge.rsa_key_and_certificate("weak-nl", bits=1024)
    path = tmp_path / "weak.crt"
    path.write_bytes(forge.pem(cert))
    trusted = load_certificate(path, allow_weak=True)
    root = forge.forge(
        etree.fromstring(b'<Envelope xmlns="urn:customs-gateway:envelope:1"><Header/></Envelope>'), key, cert
    )
    with pytest.raises(CertificateUntrusted, match="1024-bit RSA key; at least 2048"):
        SignatureVerifier("weak-nl", [trusted]).verify(parse_xml(to_bytes(root)))
    # The legacy door (the same one partner files open with legacy_algorithms) lets it through, logged.
    caplog.set_level(logging.WARNING, logger="gateway.security.signatures")
    verified = SignatureVerifier("weak-nl", [trusted], ["rsa-sha1"]).verify(parse_xml(to_bytes(root)))
    assert verified.legacy
    assert any("weak-nl" in r.getMessage() and "legacy" in r.getMessage() for r in caplog.records)


def test_what_the_verifier_remembers_per_certificate_weakens_no_check(tmp_path: Path) -> None:
    """The verifier remembers per certificate whether its key is weak and which pinned certificate a KeyInfo text
    names (issue 15): every later message is still checked in full (key, validity, signature)."""
    weak_key, weak_cert = forge.rsa_key_and_certificate("weak-nl", bits=1024)
    (tmp_path / "weak.crt").write_bytes(forge.pem(weak_cert))
    weak = SignatureVerifier("weak-nl", [load_certificate(tmp_path / "weak.crt", allow_weak=True)])
    for _ in range(2):
        with pytest.raises(CertificateUntrusted, match="1024-bit RSA key"):
            weak.verify(
                parse_xml(
                    to_bytes(forge.forge(etree.fromstring(b"<Envelope><Header/></Envelope>"), weak_key, weak_cert))
                )
            )

    key, cert = forge.rsa_key_and_certificate("nl")
    other_key, other_cert = forge.rsa_key_and_certificate("stranger")
    (tmp_path / "nl.crt").write_bytes(forge.pem(cert))
    verifier = SignatureVerifier("nl", [load_certificate(tmp_path / "nl.crt")])

    def message(signing_key: rsa.RSAPrivateKey, signing_cert: x509.Certificate) -> etree._Element:
        root = forge.forge(etree.fromstring(b"<Envelope><Header>x</Header></Envelope>"), signing_key, signing_cert)
        return parse_xml(to_bytes(root))

    for _ in range(2):  # the second time the KeyInfo text is remembered
        assert verifier.verify(message(key, cert)).certificate.certificate == cert
    with pytest.raises(CertificateUntrusted, match="not one of partner nl's trusted certificates"):
        verifier.verify(message(other_key, other_cert))
    # The pinned certificate's text (remembered) over a stranger's signature: the signature still decides.
    forged = message(other_key, cert)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verifier.verify(forged)
    # The same certificate wrapped differently is the same certificate; an expired one is still expired.
    rewrapped = message(key, cert)
    text = rewrapped.find(f".//{{{DS}}}X509Certificate")
    assert text is not None
    assert text.text is not None
    plain = "".join(text.text.split())
    text.text = "\n".join(plain[i : i + 64] for i in range(0, len(plain), 64))
    assert verifier.verify(rewrapped).certificate.certificate == cert
    later = cert.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(CertificateExpired):
        verifier.verify(message(key, cert), now=later)


async def test_two_signatures_are_refused(gate: Gate) -> None:
    identity = gate.identity()
    twice = identity.signer.sign(identity.signer.sign(gate.message()))
    reply = await gate.post(to_bytes(twice))
    await gate.assert_refused(reply, 401, "signature-invalid", "2 ds:Signature")
    # A copy of the valid signature hidden in the Header counts too.
    root = parse_xml(gate.valid())
    root.find(f"{E}Header").append(copy.deepcopy(_signature(root)))
    reply = await gate.post(to_bytes(root))
    await gate.assert_refused(reply, 401, "signature-invalid", "2 ds:Signature")
    await gate.assert_unharmed()


async def test_reference_other_than_the_whole_document_is_refused(gate: Gate, subtests: pytest.Subtests) -> None:
    for uri in ["#body", "#xpointer(/)", "#xpointer(id('body'))", "http://127.0.0.1:9/x.xml"]:
        with subtests.test(str(uri)):
            root = gate.message()
            root.find(f"{E}Body").set("Id", "body")
            identity = gate.identity()
            if uri == "#body":
                root = forge.forge(root, identity.key, identity.cert, uri=uri)  # a correct signature over the Body only
            else:
                root = forge.forge(root, identity.key, identity.cert)
                _signature(root).find(f".//{{{DS}}}Reference").set("URI", uri)
            reply = await gate.post(to_bytes(root))
            await gate.assert_refused(reply, 401, "signature-invalid", 'Reference with URI=""', uri[:20])
    await gate.assert_unharmed()


async def test_signature_moved_elsewhere_is_refused(gate: Gate, subtests: pytest.Subtests) -> None:
    for place in ["Header", "Body", "RiskAlert"]:
        with subtests.test(str(place)):
            root = gate.message()
            parent = next(root.iter(f"{E}{place}", f"{W}{place}"))
            identity = gate.identity()
            # Cryptographically valid: the enveloped transform removes the signature wherever it is.
            root = forge.forge(root, identity.key, identity.cert, parent=parent)
            reply = await gate.post(to_bytes(root))
            await gate.assert_refused(reply, 401, "signature-invalid", "direct child of the document element")
    await gate.assert_unharmed()


def _evil_twin(original: etree._Element) -> etree._Element:
    """A look-alike Envelope the attacker wants acted on: other id, other risk, other receiver."""
    twin = copy.deepcopy(original)
    _strip(twin)
    twin.find(f"{E}Header/{E}MessageID").text = "EVIL-TWIN-1"
    twin.find(f"{E}Header/{E}Receiver").text = "picky-it"
    twin.find(f"{E}Body/{W}RiskAlert/{W}RiskArea").text = "drugs"
    return twin


@pytest.mark.parametrize("hiding_place", ["Object", "KeyInfo", "SignatureProperties"])
async def test_wrapping_acts_only_on_the_signed_content(make_gate: GateFactory, hiding_place: str) -> None:
    """The unsigned twin sits where an unwary parser might look (inside the signature, which the enveloped
    transform removes, so the signature still verifies): the gateway routes and delivers the signed
    content."""
    gate = await make_gate(deliver=True)
    message_id = new_id("SIGNED")
    root = parse_xml(gate.valid(message_id=message_id))
    signature = _signature(root)
    twin = _evil_twin(root)
    if hiding_place == "Object":
        etree.SubElement(signature, f"{{{DS}}}Object").append(twin)
    elif hiding_place == "KeyInfo":
        signature.find(f"{{{DS}}}KeyInfo").append(twin)
    else:
        props = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}Object"), f"{{{DS}}}SignatureProperties")
        etree.SubElement(props, f"{{{DS}}}SignatureProperty", Target="#x").append(twin)
    reply = await gate.post(to_bytes(root))
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:600]
    assert reply.receipt.findtext(f"{E}Header/{E}CorrelationID") == message_id
    assert gate.inbox is not None
    await gate.inbox.wait_for(1)
    headers, delivered = gate.inbox.received[0]
    assert headers["X-Sender-Message-Id"] == message_id
    document = XMLVerifier().verify(delivered, x509_cert=gate.deployment.gateway.cert).signed_xml
    assert document.findtext(f"{E}Header/{E}MessageID") == message_id
    assert document.findtext(f"{E}Body/{W}RiskAlert/{W}RiskArea") == "IPR"
    assert b"EVIL-TWIN" not in delivered
    assert await gate.depth("picky-it") == 0


async def test_signed_body_moved_and_lookalike_put_in_its_place_is_refused(gate: Gate) -> None:
    root = parse_xml(gate.valid())
    body = root.find(f"{E}Body")
    twin_body = _evil_twin(root).find(f"{E}Body")
    body.addprevious(twin_body)
    etree.SubElement(_signature(root), f"{{{DS}}}Object").append(body)
    reply = await gate.post(to_bytes(root))
    await gate.assert_refused(reply, 401, "signature-invalid", "does not verify")
    await gate.assert_unharmed()


async def test_signed_envelope_wrapped_in_a_lookalike_is_refused(gate: Gate) -> None:
    signed_root = parse_xml(gate.valid())
    outer = _evil_twin(signed_root)
    outer.append(signed_root)  # the whole signed Envelope as an extra child of the attacker's
    reply = await gate.post(to_bytes(outer))
    await gate.assert_refused(reply, 401, "signature-invalid", "direct child")
    await gate.assert_unharmed()


async def test_duplicate_ids_are_refused(gate: Gate) -> None:
    identity = gate.identity()
    # A reference to a duplicated Id: refused by the profile before any lookup.
    root = gate.message()
    root.find(f"{E}Body").set("Id", "dup")
    root.find(f"{E}Header").set("Id", "dup")
    reply = await gate.post(to_bytes(forge.forge(root, identity.key, identity.cert, uri="#dup")))
    await gate.assert_refused(reply, 401, "signature-invalid", "#dup")
    # Duplicate xml:id: not even well-formed for libxml2.
    root = gate.message()
    root.find(f"{E}Body").set("{http://www.w3.org/XML/1998/namespace}id", "dup")
    root.find(f"{E}Header").set("{http://www.w3.org/XML/1998/namespace}id", "dup")
    reply = await gate.post(signed(identity, root))
    await gate.assert_refused(reply, 400, "malformed-xml", "dup already defined")
    # Duplicate Id attributes under a whole-document signature: signed, but not the schema's.
    root = gate.message()
    root.find(f"{E}Body").set("Id", "dup")
    root.find(f"{E}Header").set("Id", "dup")
    reply = await gate.post(signed(identity, root))
    await gate.assert_refused(reply, 422, "schema-invalid", "Id")
    await gate.assert_unharmed()


async def test_comment_injected_into_signed_text_reads_as_the_signed_text(make_gate: GateFactory) -> None:
    """C14N drops comments, so a comment injected after signing keeps the signature valid. The gateway must
    read the signed text ("ABC123DEF"), not the text node before the comment ("ABC123")."""
    gate = await make_gate(deliver=True)
    original = gate.valid(message_id="ABC123DEF")
    injected = original.replace(b"<MessageID>ABC123DEF<", b"<MessageID>ABC123<!-- x -->DEF<")
    injected = injected.replace(b"<RiskArea>IPR<", b"<RiskArea>IP<!---->R<")
    assert injected != original
    reply = await gate.post(injected)
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:600]
    assert reply.receipt.findtext(f"{E}Header/{E}CorrelationID") == "ABC123DEF"
    await gate.inbox.wait_for(1)
    headers, delivered = gate.inbox.received[0]
    assert headers["X-Sender-Message-Id"] == "ABC123DEF"
    document = XMLVerifier().verify(delivered, x509_cert=gate.deployment.gateway.cert).signed_xml
    assert document.findtext(f"{E}Header/{E}MessageID") == "ABC123DEF"
    assert document.findtext(f"{E}Body/{W}RiskAlert/{W}RiskArea") == "IPR"
    assert b"<!--" not in delivered
    # The signed content is the same as the original's: it is a duplicate, answered with the first receipt.
    again = await gate.post(original)
    assert (again.status, again.code, again.body) == (200, "duplicate", reply.body)


async def test_canonicalisation_with_comments_is_refused(gate: Gate) -> None:
    identity = gate.identity()
    root = forge.forge(gate.message(), identity.key, identity.cert, c14n=forge.C14N_COMMENTS)
    reply = await gate.post(to_bytes(root))
    await gate.assert_refused(reply, 401, "signature-invalid", "without comments")
    await gate.assert_unharmed()


async def test_certificate_with_a_negative_serial_in_key_info_is_untrusted(gate: Gate) -> None:
    """cryptography warns about such certificates (an error under pytest): the verifier must not care."""
    vector = parse_xml((VECTORS / "xml-crypto" / "wsfederation_metadata.xml").read_bytes())
    odd = vector.find(f".//{{{DS}}}X509Certificate").text
    root = parse_xml(gate.valid())
    _signature(root).find(f".//{{{DS}}}X509Certificate").text = odd
    reply = await gate.post(to_bytes(root))
    await gate.assert_refused(reply, 401, "certificate-untrusted", "not one of partner")
    await gate.assert_unharmed()


def _vectors() -> list[Path]:
    return sorted(p for p in VECTORS.rglob("*.xml"))


async def test_w3c_and_interop_vectors_are_refused_with_specific_codes(gate: Gate) -> None:
    """Every vector, as sent and with its signature transplanted into a canonical Envelope: a 4xx with a
    specific code and a signed receipt, never a 500."""
    outcomes: dict[str, str] = {}
    for path in _vectors():
        name = str(path.relative_to(VECTORS))
        reply = await gate.post(path.read_bytes())
        outcomes[name] = f"{reply.status} {reply.code}"
        assert reply.receipt is not None, name
        root = parse_xml(gate.valid())
        _strip(root)
        try:
            vector = parse_xml(path.read_bytes())
        except Rejection:
            continue
        for signature in vector.iter(f"{{{DS}}}Signature"):
            root.append(copy.deepcopy(signature))
        reply = await gate.post(to_bytes(root))
        outcomes[name + " (transplanted)"] = f"{reply.status} {reply.code}"
        assert reply.receipt is not None, name
    allowed = {
        "400 malformed-xml",
        "400 unsupported-message",
        "401 signature-invalid",
        "401 certificate-untrusted",
    }
    unexpected = {name: outcome for name, outcome in outcomes.items() if outcome not in allowed}
    assert unexpected == {}
    assert len(outcomes) > 150
    await gate.assert_nothing_published()
    await gate.assert_unharmed()


@pytest.mark.parametrize("path", _vectors(), ids=lambda p: str(p.relative_to(VECTORS)))
def test_vectors_with_their_own_certificate_pinned_never_crash_the_verifier(path: Path, tmp_path: Path) -> None:
    """The verifier on its own, trusting the vector's certificate at a time it is valid, with SHA-1 allowed:
    this reaches the algorithm, reference and cryptographic checks. Only a Rejection or a verified result."""
    try:
        root = parse_xml(path.read_bytes())
    except Rejection:
        return
    pinned = []
    for index, element in enumerate(root.iter(f"{{{DS}}}X509Certificate")):
        cert_path = tmp_path / f"{index}.der"
        cert_path.write_bytes(base64.b64decode("".join((element.text or "").split())))
        try:
            with warnings.catch_warnings():  # some vectors' certificates have negative serial numbers
                warnings.simplefilter("ignore")
                pinned.append(load_certificate(cert_path, allow_weak=True))
        except ConfigError:  # not a certificate the loader takes (DSA, unreadable): the vector runs unpinned
            continue
    when = pinned[0].not_before + dt.timedelta(seconds=1) if pinned else None
    verifier = SignatureVerifier("w3c", pinned[:1], ["rsa-sha1"])
    try:
        verified = verifier.verify(root, now=when)
    except Rejection:
        return
    # The only vectors that verify are enveloped whole-document signatures with the signature as a root child.
    assert verified.xml is not None
    assert verified.xml.find(f"{{{DS}}}Signature") is None


@pytest.mark.parametrize("algorithm", ["rsa", "sm2"])
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            (b"<Header/>", b'<Header><x xmlns="relative/ns"/></Header>'),
            "C14N",
        ),  # C14N refuses relative namespace URIs
        ((b"<ds:SignedInfo>", b"<ds:SignedInfo/><ds:SignedInfo>"), "exactly one ds:SignedInfo"),
    ],
    ids=["relative-namespace", "two-signed-infos"],
)
def test_fuzzer_findings_are_clean_rejections(
    tmp_path: Path, algorithm: str, edit: tuple[bytes, bytes], words: str
) -> None:
    """Found by the fuzzer in the SM2 path (an lxml C14NError, an AssertionError: both 500s before); the
    RSA path gets the same inputs."""
    key, cert = new_key_and_certificate("fuzz-nl", algorithm=algorithm)
    write_key_and_certificate(key, cert, tmp_path / "k.pem", tmp_path / "c.pem")
    signer = (
        Sm2Signer(load_sm2_private_key(tmp_path / "k.pem"), cert)
        if isinstance(key, Sm2PrivateKey)
        else Signer(key, cert)
    )
    root = etree.fromstring(b'<Envelope xmlns="urn:customs-gateway:envelope:1"><Header/><Body/></Envelope>')
    data = to_bytes(signer.sign(root)).replace(*edit, 1)
    verifier = SignatureVerifier("fuzz-nl", [load_certificate(tmp_path / "c.pem")])
    with pytest.raises(SignatureInvalid, match=words):
        verifier.verify(parse_xml(data))
