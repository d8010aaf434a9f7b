"""What a verified signature gives the later steps, and the enveloped-signature transform it is computed with
(shared by the XML-DSig verifier, its fast path and the SM2-SM3 one)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from gateway.security.certificates import TrustedCertificate

DS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


@dataclass(frozen=True)
class Verified:
    """What a valid signature covers. ``xml`` is the only tree later steps may read."""

    xml: etree._Element
    signed_data: bytes  # the canonical bytes the signature covers: the basis of the duplicate digest
    certificate: TrustedCertificate
    algorithm: str
    legacy: bool


def enveloped_c14n(root: etree._Element, signature: etree._Element, *, exclusive: bool = False) -> bytes:
    """C14N (no comments) of the document after the enveloped-signature transform: ``root`` without
    ``signature``, its direct child; the text after the signature stays in the document. ``root`` is not
    changed."""
    document = copy.deepcopy(root)
    removed = document[root.index(signature)]
    if removed.tail:  # the text after the signature belongs to the document, not to the signature
        previous = removed.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + removed.tail
        else:
            document.text = (document.text or "") + removed.tail
    document.remove(removed)
    canonical: bytes = etree.tostring(document, method="c14n", exclusive=exclusive, with_comments=False)
    return canonical
