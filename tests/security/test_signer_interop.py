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
