"""The gateway's own Signer against signxml's verifier: what we sign, any XML-DSig verifier accepts."""

from __future__ import annotations

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.security.certificates import new_key_and_certificate
from gateway.security.signatures import Signer
from tests.helpers import EXAMPLES


@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
@pytest.mark.parametrize(
    "document",
    [
        (EXAMPLES / "risk-alert.xml").read_bytes(),
        (EXAMPLES / "receipt.xml").read_bytes(),
        b"<a><!-- a comment --><b>x<!--y-->z</b><?pi data?></a>",
        b'<p:a xmlns:p="urn:p" xmlns="urn:d"><b xml:lang="en">t</b><p:c attr="1"/></p:a>',
    ],
)
def test_signxml_verifies_what_the_signer_signs(algorithm, document):
    key, cert = new_key_and_certificate("signer", algorithm=algorithm)
    signed = etree.tostring(Signer(key, cert).sign(etree.fromstring(document)))
    result = XMLVerifier().verify(signed, x509_cert=cert)
    assert result.signed_xml is not None


def test_tampering_after_signing_is_detected():
    key, cert = new_key_and_certificate("signer")
    signed = etree.tostring(Signer(key, cert).sign(etree.fromstring(b"<a><b>100</b></a>")))
    with pytest.raises(Exception, match=r"[Dd]igest"):
        XMLVerifier().verify(signed.replace(b"100", b"900"), x509_cert=cert)


@pytest.mark.parametrize(
    "c14n",
    [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ],
)
@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
def test_fast_path_accepts_exactly_what_signxml_accepts(tmp_path, c14n, algorithm):
    """The single-pass verifier returns the very bytes signxml says the signature covers, or hands over."""
    from signxml import XMLSigner
    from signxml.algorithms import DigestAlgorithm, SignatureMethod

    from gateway.security.certificates import load_certificate, write_key_and_certificate
    from gateway.security.fast_verify import fast_verify
    from gateway.security.verified import DS

    key, cert = new_key_and_certificate("signer", algorithm=algorithm)
    write_key_and_certificate(key, cert, tmp_path / "k.key", tmp_path / "k.crt")
    trusted = load_certificate(tmp_path / "k.crt")
    method = SignatureMethod.RSA_SHA256 if algorithm == "rsa" else SignatureMethod.ECDSA_SHA256
    document = b'<a xmlns="urn:d" xmlns:p="urn:p"><p:b>x<!--c-->y</p:b>\n  <c p:q="1"/>\n</a>'
    signer = XMLSigner(c14n_algorithm=c14n, signature_algorithm=method)
    signed = etree.tostring(signer.sign(etree.fromstring(document), key=key, cert=[cert]))
    root = etree.fromstring(signed)
    fast = fast_verify(root, root.find(f"{{{DS}}}Signature"), trusted, method, DigestAlgorithm.SHA256)
    reference = XMLVerifier().verify(signed, x509_cert=cert)
    assert fast is not None
    assert fast[1] == reference.signed_data
    assert etree.tostring(fast[0]) == etree.tostring(reference.signed_xml)

    tampered = etree.fromstring(signed.replace(b">x<", b">z<"))
    assert fast_verify(tampered, tampered.find(f"{{{DS}}}Signature"), trusted, method, DigestAlgorithm.SHA256) is None
    # A KeyValue (or DEREncodedKeyValue) in the unsigned KeyInfo: signxml compares it with the certificate, so
    # the fast path hands over even though the signature itself verifies.
    for namespace, name in ((DS, "KeyValue"), ("http://www.w3.org/2009/xmldsig11#", "DEREncodedKeyValue")):
        with_key = etree.fromstring(signed)
        key_info = with_key.find(f"{{{DS}}}Signature/{{{DS}}}KeyInfo")
        assert key_info is not None
        etree.SubElement(key_info, f"{{{namespace}}}{name}")
        signature = with_key.find(f"{{{DS}}}Signature")
        assert fast_verify(with_key, signature, trusted, method, DigestAlgorithm.SHA256) is None, name
