"""The pure AS4 core: round trips, receipts, and each hostile variation answered with its ebMS error."""

from __future__ import annotations

import base64
import copy
import gzip

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4 import errors, mime, signals, wss
from gateway.as4.message import Expectation, Limits, Party, Payload, UserMessage, build, new_message_id, parse
from tests.as4.keys import identity

DOC = b"<?xml version='1.0'?><Declaration><ID>42</ID>" + b"<Line>item</Line>" * 50 + b"</Declaration>"


def user_message(**overrides: object) -> UserMessage:
    fields: dict[str, object] = {
        "message_id": new_message_id("peer"),
        "from_party": Party("PEER-AP", "urn:oasis:names:tc:ebcore:partyid-type:unregistered"),
        "to_party": Party("GATEWAY-AP", "urn:oasis:names:tc:ebcore:partyid-type:unregistered", c.RESPONDER),
        "service": "urn:customs:declarations",
        "service_type": "urn:customs:service",
        "action": "SubmitDeclaration",
        "conversation_id": "conv-1",
    }
    fields.update(overrides)
    return UserMessage(**fields)  # type: ignore[arg-type]


def agreements(*, encryption_required: bool = False, trusted: tuple[str, ...] = ("peer",)):
    def find(um: UserMessage) -> Expectation:
        if um.from_party.id != "PEER-AP" or um.service != "urn:customs:declarations":
            raise errors.ProcessingModeMismatch(f"no partner for From {um.from_party.id!r}")
        return Expectation("PEER", "declaration", tuple(identity(t).certificate for t in trusted), encryption_required)

    return find


def receive(content_type: str, body: bytes, **kw: object):
    return parse(
        content_type,
        body,
        agreements=agreements(**kw),  # type: ignore[arg-type]
        credentials=identity("gateway"),
        limits=Limits(max_payload_bytes=1_000_000),
    )


def sent(encrypt: bool = False, um: UserMessage | None = None):
    return build(
        um or user_message(),
        [Payload("doc@peer", DOC)],
        identity("peer"),
        encrypt_for=identity("gateway").certificate if encrypt else None,
    )


@pytest.mark.parametrize("encrypt", [False, True])
def test_round_trip_and_receipt(encrypt: bool) -> None:
    out = sent(encrypt)
    got = receive(out.content_type, out.body, encryption_required=encrypt)
    assert got.payloads[0].data == DOC
    assert got.payloads[0].mime_type == "application/xml"
    assert got.encrypted is encrypt
    assert set(got.references) == set(out.references)
    uris = [r.uri for r in out.references]
    assert uris[0].startswith("#ebMessaging-")
    assert uris[1].startswith("#body-")
    assert uris[2] == "cid:doc@peer"
    answer = signals.receipt(got.user_message.message_id, got.references, identity("gateway"))
    checked = signals.check(
        "application/soap+xml",
        answer,
        sent_message_id=out.message_id,
        sent=out.references,
        signers=[identity("gateway").certificate],
    )
    assert checked.is_receipt
    assert checked.signed


def test_compressed_attachment_is_gzip_on_the_wire() -> None:
    out = sent()
    parts = mime.parse(out.content_type, out.body)
    (part,) = parts.parts.values()
    assert part.content_type == "application/gzip"
    assert gzip.decompress(part.data) == DOC


def _mutate_soap(out, change) -> tuple[str, bytes]:
    parts = mime.parse(out.content_type, out.body)
    root = etree.fromstring(parts.soap)
    change(root)
    soap = etree.tostring(root)
    return mime.build(soap, list(parts.parts.values()))


def _expect(code: str, content_type: str, body: bytes, **kw: object) -> errors.EbmsError:
    with pytest.raises(errors.EbmsError) as caught:
        receive(content_type, body, **kw)
    assert caught.value.code == code, caught.value
    return caught.value


def test_unsigned() -> None:
    out = sent()

    def drop(root):
        header = root.find(f"{{{c.S12}}}Header")
        header.remove(header.find(f"{{{c.WSSE}}}Security"))

    err = _expect("EBMS:0101", *_mutate_soap(out, drop))
    assert "not signed" in err.detail
    assert err.ref_to_message_id == out.message_id


def test_signature_over_messaging_only() -> None:
    """Signed by the right key, but the Body and the payload are outside the signature."""
    um = user_message()
    from gateway.as4.message import envelope_for

    envelope = envelope_for(um, [Payload("doc@peer", DOC)], compressed=True)
    wss.sign(envelope, {}, identity("peer"))
    signature = envelope.find(f".//{{{c.DS}}}SignedInfo")
    body_ref = next(r for r in signature.findall(f"{{{c.DS}}}Reference") if "body" in r.get("URI"))
    signature.remove(body_ref)  # breaks the signature value: re-sign SignedInfo with the same key
    value = identity("peer").key.sign(wss.exc_c14n(signature), padding.PKCS1v15(), hashes.SHA256())
    envelope.find(f".//{{{c.DS}}}SignatureValue").text = base64.b64encode(value).decode()
    body = mime.build(etree.tostring(envelope), [mime.Part("doc@peer", "application/gzip", gzip.compress(DOC))])
    err = _expect("EBMS:0101", *body)
    assert "SOAP Body" in err.detail


def test_signed_attachment_swapped() -> None:
    out = sent()
    parts = mime.parse(out.content_type, out.body)
    evil = gzip.compress(DOC.replace(b"42", b"43"))
    err = _expect("EBMS:0101", *mime.build(parts.soap, [mime.Part("doc@peer", "application/gzip", evil)]))
    assert "does not match its signed digest" in err.detail


def test_body_wrapping() -> None:
    """The signed Body moves into a header; a forged Body takes its place."""
    out = sent()

    def wrap(root):
        body = root.find(f"{{{c.S12}}}Body")
        root.remove(body)
        root.find(f"{{{c.S12}}}Header").append(body)
        forged = etree.SubElement(root, f"{{{c.S12}}}Body")
        etree.SubElement(forged, "Evil").text = "pay me"

    err = _expect("EBMS:0101", *_mutate_soap(out, wrap))
    assert "SOAP Body" in err.detail or "Body" in err.detail


def test_messaging_wrapping() -> None:
    """The signed eb:Messaging hides in a wrapper; a forged one (other action) is what would be processed."""
    out = sent()

    def wrap(root):
        header = root.find(f"{{{c.S12}}}Header")
        messaging = header.find(f"{{{c.EB}}}Messaging")
        forged = copy.deepcopy(messaging)
        del forged.attrib[c.WSU_ID]
        forged.find(".//{*}Action").text = "Other"
        wrapper = etree.SubElement(header, "{urn:x}Wrapper")
        header.remove(messaging)
        wrapper.append(messaging)
        header.append(forged)

    err = _expect("EBMS:0101", *_mutate_soap(out, wrap))
    assert "eb:Messaging" in err.detail


def test_duplicate_ids_refused() -> None:
    out = sent()

    def dup(root):
        messaging = root.find(f".//{{{c.EB}}}Messaging")
        extra = etree.SubElement(root.find(f"{{{c.S12}}}Header"), "{urn:x}Other")
        extra.set(c.WSU_ID, messaging.get(c.WSU_ID))

    err = _expect("EBMS:0101", *_mutate_soap(out, dup))
    assert "occurs twice" in err.detail


def test_unknown_party() -> None:
    out = sent(um=user_message(from_party=Party("STRANGER")))
    _expect("EBMS:0010", out.content_type, out.body)


def test_signed_by_another_partner() -> None:
    out = build(user_message(), [Payload("doc@peer", DOC)], identity("other"))
    err = _expect("EBMS:0101", out.content_type, out.body)
    assert "not a certificate of partner PEER" in err.detail


def test_encrypted_for_another_key() -> None:
    out = build(user_message(), [Payload("doc@peer", DOC)], identity("peer"), encrypt_for=identity("other").certificate)
    _expect("EBMS:0102", out.content_type, out.body)


def test_encryption_required() -> None:
    out = sent(encrypt=False)
    _expect("EBMS:0103", out.content_type, out.body, encryption_required=True)


def test_decompression_bomb() -> None:
    bomb = gzip.compress(b"<a>" + b" " * 50_000_000 + b"</a>")
    um = user_message()
    from gateway.as4.message import envelope_for

    envelope = envelope_for(um, [Payload("doc@peer", b"")], compressed=True)
    wss.sign(envelope, {"doc@peer": bomb}, identity("peer"))
    body = mime.build(etree.tostring(envelope), [mime.Part("doc@peer", "application/gzip", bomb)])
    err = _expect("EBMS:0303", *body)
    assert "limit" in err.detail


def test_not_gzip() -> None:
    junk = b"not gzip at all"
    from gateway.as4.message import envelope_for

    envelope = envelope_for(user_message(), [Payload("doc@peer", b"")], compressed=True)
    wss.sign(envelope, {"doc@peer": junk}, identity("peer"))
    _expect("EBMS:0303", *mime.build(etree.tostring(envelope), [mime.Part("doc@peer", "application/gzip", junk)]))


def test_not_soap() -> None:
    _expect("EBMS:0009", "application/soap+xml", b"<not-soap/>")
    _expect("EBMS:0009", "application/soap+xml", b"<<<")
    _expect("EBMS:0009", "text/plain", b"hello")


def test_receipt_checks() -> None:
    out = sent()
    got = receive(out.content_type, out.body)
    good = signals.receipt(out.message_id, got.references, identity("gateway"))
    by_other = signals.receipt(out.message_id, got.references, identity("other"))
    with pytest.raises(errors.InvalidReceipt, match="signature"):
        signals.check(
            "", by_other, sent_message_id=out.message_id, sent=out.references, signers=[identity("gateway").certificate]
        )
    partial = signals.receipt(out.message_id, got.references[:2], identity("gateway"))
    with pytest.raises(errors.InvalidReceipt, match="not acknowledged"):
        signals.check(
            "", partial, sent_message_id=out.message_id, sent=out.references, signers=[identity("gateway").certificate]
        )
    with pytest.raises(errors.InvalidReceipt, match="refers to"):
        signals.check(
            "", good, sent_message_id="other-id", sent=out.references, signers=[identity("gateway").certificate]
        )
    unsigned = etree.fromstring(good)
    unsigned.find(f".//{{{c.WSSE}}}Security").getparent().remove(unsigned.find(f".//{{{c.WSSE}}}Security"))
    with pytest.raises(errors.InvalidReceipt, match="not signed"):
        signals.check(
            "",
            etree.tostring(unsigned),
            sent_message_id=out.message_id,
            sent=out.references,
            signers=[identity("gateway").certificate],
        )


def test_error_signal_is_reported() -> None:
    answer = signals.error(errors.FailedDecryption("no", ref_to_message_id="m-1"), identity("gateway"))
    got = signals.check("", answer, sent_message_id="m-1", sent=(), signers=[identity("gateway").certificate])
    assert not got.is_receipt
    assert got.errors[0].code == "EBMS:0102"
    assert got.ref_to_message_id == "m-1"


def test_mime_written_by_the_standard_library_with_base64_parts() -> None:
    """An independent MIME writer (email.mime): base64 transfer encoding, folded headers, a preamble."""
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart

    related = MIMEMultipart("related", type="application/soap+xml", start="<soap@x>")
    related.preamble = "This is a multipart message."
    soap = MIMEApplication(b"<S:Envelope xmlns:S='urn:x'/>", "soap+xml")
    soap["Content-ID"] = "<soap@x>"
    data = bytes(range(256)) * 40
    attachment = MIMEApplication(data, "octet-stream")
    attachment["Content-ID"] = "<bin@x>"
    related.attach(soap)
    related.attach(attachment)
    head, _, body = related.as_bytes(policy=__import__("email.policy").policy.SMTP).partition(b"\r\n\r\n")
    content_type = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ").split(b"\r\n")
        if line.lower().startswith(b"content-type")
    )
    parsed = mime.parse(content_type, body)
    assert parsed.soap == b"<S:Envelope xmlns:S='urn:x'/>"
    assert parsed.parts["bin@x"].data == data


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/related", b"--x\r\n\r\n--x--"),
        ('multipart/related; boundary="x"', b"no delimiter at all"),
        ('multipart/related; boundary="x"', b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"),
        ('multipart/related; boundary="x"', b"--x\r\nbroken header\r\n\r\nhi\r\n--x--\r\n"),
    ],
)
def test_bad_mime_is_invalid_header(content_type: str, body: bytes) -> None:
    with pytest.raises(errors.InvalidHeader):
        mime.parse(content_type, body)
