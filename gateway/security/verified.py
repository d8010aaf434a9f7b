"""What a verified signature gives the later steps (shared by the XML-DSig verifier and the SM2-SM3 one)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.security.certificates import TrustedCertificate

DS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class Verified:
    """What a valid signature covers. ``xml`` is the only tree later steps may read."""

    xml: etree._Element
    signed_data: bytes  # the canonical bytes the signature covers: the basis of the duplicate digest
    certificate: TrustedCertificate
    algorithm: str
    legacy: bool
