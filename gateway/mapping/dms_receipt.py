"""HMRC CDS RES-DMS notifications <-> canonical receipts (``wco:Receipt``).

RES-DMS notifications with FunctionCode 02 (DMSRCV, received) and 03 (DMSREJ, rejected) are receipts
(``wco:Receipt`` accepted / rejected). The other function codes are customs decisions (01 accepted, 07
amended, 09 cleared ...) without a canonical message type. A WCO error pointer (a list of DocumentSectionCode,
SequenceNumeric, TagID) is written as text, ``42A/67A/68A[2]/23A#145``; a RES error without a Description gets
:data:`NO_DESCRIPTION`, which the canonical form requires.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.records import Loss, W, leftovers, take_text
from gateway.mapping.wco_dms import RES, RES_DS_NS, RES_NS, date_time_string, from_304

RECEIVED, REJECTED = "02", "03"  # RES FunctionCode: DMSRCV, DMSREJ
HELD = "05"  # DMSCTL, goods to be inspected: what the gateway answers for a declaration held on the watch list
RECEIPT_CODES: Mapping[str, str] = {RECEIVED: "accepted", REJECTED: "rejected"}
OTHER_NOTIFICATIONS: Mapping[str, str] = {  # as HMRC's notification samples describe them
    "01": "DMSACC, declaration legally accepted",
    "05": "DMSCTL, goods to be inspected",
    "06": "DMSDOC, documents required",
    "07": "DMSRES, declaration corrected after control",
    "08": "DMSROG, goods may be released",
    "09": "DMSCLE, cleared",
    "10": "DMSINV, declaration invalidated",
    "11": "DMSREQ, amendment request accepted",
    "13": "DMSTAX, customs debt",
    "14": "DMSCPI",
    "15": "DMSCPR, deferred payment reminder",
    "16": "DMSEOG, goods have exited",
    "18": "DMSGER",
}
NO_DESCRIPTION = "(no description given)"
# RES ValidationCode is an..8: the gateway's rejection codes as 8-character codes (the full code goes first
# in the Description).
VALIDATION_CODES: Mapping[str, str] = {
    "malformed-xml": "GWXML",
    "unsupported-message": "GWUNSUP",
    "signature-invalid": "GWSIG",
    "certificate-untrusted": "GWCERTUN",
    "certificate-expired": "GWCERTEX",
    "not-permitted": "GWPERMIT",
    "unknown-partner": "GWPARTNR",
    "replayed": "GWREPLAY",
    "too-large": "GWSIZE",
    "malformed-multipart": "GWMULTI",
    "image-invalid": "GWIMAGE",
    "schema-invalid": "GWSCHEMA",
    "mapping-failed": "GWMAPPNG",
    "no-route": "GWROUTE",
    "unavailable": "GWUNAVAI",
    "partner-suspended": "GWSUSPND",
    "rate-limited": "GWRATE",
    "matching-failed": "GWMATCH",
    "matching-incomplete": "GWMATINC",
    "non-compliant": "GWNONCMP",
}
OTHER_CODE = "GWERROR"


_STEP = re.compile(r"(?P<section>[0-9A-Z]{1,3})?(?:\[(?P<seq>[1-9][0-9]{0,4})\])?(?:#(?P<tag>[0-9A-Z]{1,4}))?")


def pointer_text(pointers: Sequence[etree._Element]) -> str:
    """RES Pointer elements (DocumentSectionCode, SequenceNumeric, TagID) as ``42A/68A[2]/23A#145``."""
    steps = []
    for pointer in pointers:
        section = pointer.findtext(RES + "DocumentSectionCode") or ""
        sequence = pointer.findtext(RES + "SequenceNumeric")
        tag = pointer.findtext(RES + "TagID")
        steps.append(
            section.strip() + (f"[{sequence.strip()}]" if sequence else "") + (f"#{tag.strip()}" if tag else "")
        )
    return "/".join(steps)


def pointer_steps(text: str) -> list[tuple[str | None, str | None, str | None]] | None:
    """(SequenceNumeric, DocumentSectionCode, TagID) per step of a WCO pointer text; None for others."""
    steps = []
    for step in text.split("/"):
        found = _STEP.fullmatch(step)
        if not step or found is None:
            return None
        steps.append((found["seq"], found["section"], found["tag"]))
    return steps


def receipt_to_canonical(response: etree._Element, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:Receipt`` of a RES-DMS Response with FunctionCode 02 or 03, and what it cannot carry."""
    work = copy.deepcopy(response)
    receipt = etree.Element(W + "Receipt", nsmap={None: W[1:-1]})
    code = _take(work, "FunctionCode")
    etree.SubElement(receipt, W + "FunctionCode").text = RECEIPT_CODES[code]
    _take(work, "FunctionalReferenceID")  # the notification's own id: the envelope's MessageID
    issued = work.find(RES + "IssueDateTime")
    if issued is None:
        raise MappingFailed(
            f"{pointer}/IssueDateTime: the notification gives no issue date and time; a canonical receipt needs one",
            pointer=f"{pointer}/IssueDateTime",
        )
    etree.SubElement(receipt, W + "IssueDateTime").text = from_304(issued, f"{pointer}/IssueDateTime")
    work.remove(issued)
    answered = work.find(RES + "Declaration")
    if answered is not None:
        reference = _take(answered, "FunctionalReferenceID")
        if reference:
            etree.SubElement(receipt, W + "ReferencedMessageID").text = reference
        _answered(answered, receipt, f"{pointer}/Declaration")
    for error in work.findall(RES + "Error"):
        _error_to_canonical(error, receipt)
    return receipt, leftovers(work, pointer)


def _take(parent: etree._Element, name: str) -> str:
    element = parent.find(RES + name)
    return take_text(element) if element is not None else ""


def _answered(answered: etree._Element, receipt: etree._Element, pointer: str) -> None:
    out = etree.Element(W + "Declaration")
    for name in ("AcceptanceDateTime", "ID", "RejectionDateTime", "VersionID"):
        element = answered.find(RES + name)
        if element is None:
            continue
        if name.endswith("DateTime"):
            etree.SubElement(out, W + name).text = from_304(element, f"{pointer}/{name}")
            answered.remove(element)
        elif value := take_text(element):
            etree.SubElement(out, W + name).text = value
    if len(out):
        receipt.append(out)


def _error_to_canonical(error: etree._Element, receipt: etree._Element) -> None:
    out = etree.SubElement(receipt, W + "Error")
    etree.SubElement(out, W + "ValidationCode").text = _take(error, "ValidationCode")
    pointers = error.findall(RES + "Pointer")
    if pointers:
        etree.SubElement(out, W + "Pointer").text = pointer_text(pointers)
        for pointer in pointers:
            error.remove(pointer)
    etree.SubElement(out, W + "Description").text = _take(error, "Description") or NO_DESCRIPTION


def response_from_canonical(receipt: etree._Element, own_id: str, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The RES-DMS Response of a ``wco:Receipt`` (DMSRCV or DMSREJ), and the values it cannot carry."""
    work = copy.deepcopy(receipt)
    response = etree.Element(RES + "Response", nsmap={None: RES_NS})
    function = take_text(work.find(W + "FunctionCode"))
    etree.SubElement(response, RES + "FunctionCode").text = {"accepted": RECEIVED, "held": HELD}.get(function, REJECTED)
    own = work.find(W + "GatewayMessageID")
    identity = (take_text(own) if own is not None else own_id).replace("-", "")
    if len(identity) > 35:  # RES an..35
        raise MappingFailed(
            f"{pointer}/GatewayMessageID: {identity!r} is longer than the 35 characters of a RES FunctionalReferenceID",
            pointer=f"{pointer}/GatewayMessageID",
        )
    etree.SubElement(response, RES + "FunctionalReferenceID").text = identity
    issued = work.find(W + "IssueDateTime")
    date_time_string(response, RES + "IssueDateTime", RES_DS_NS, take_text(issued), f"{pointer}/IssueDateTime")
    losses: list[Loss] = []
    for number, error in enumerate(work.findall(W + "Error"), 1):
        _error_from_canonical(error, response, f"{pointer}/Error[{number}]", losses)
    answered = etree.SubElement(response, RES + "Declaration")
    declaration = work.find(W + "Declaration")
    for name in ("AcceptanceDateTime", "FunctionalReferenceID", "ID", "RejectionDateTime", "VersionID"):
        source = (
            work.find(W + "ReferencedMessageID")
            if name == "FunctionalReferenceID"
            else (declaration.find(W + name) if declaration is not None else None)
        )
        if source is None:
            continue
        value = take_text(source)
        if name.endswith("DateTime"):
            date_time_string(answered, RES + name, RES_DS_NS, value, f"{pointer}/Declaration/{name}")
        elif name == "FunctionalReferenceID" and len(value) > 35:  # an LRN is an..35; this is no LRN
            losses.append(Loss(f"{pointer}/ReferencedMessageID", value))
        else:
            etree.SubElement(answered, RES + name).text = value
    return response, losses + leftovers(work, pointer)


def _error_from_canonical(error: etree._Element, response: etree._Element, pointer: str, losses: list[Loss]) -> None:
    code = take_text(error.find(W + "ValidationCode"))
    where = error.find(W + "Pointer")
    location = take_text(where) if where is not None else ""
    description = error.find(W + "Description")
    text = take_text(description) if description is not None else ""
    steps = pointer_steps(location) if location else None
    prefix = code if len(code) > 8 else ""  # the full code before the text, the 8-character one in its place
    if location and steps is None:  # not a WCO pointer (e.g. an XPath): in the text, before it can be cut
        prefix = f"{prefix} at {location}".strip()
    if prefix:
        text = f"{prefix}: {text}"
    if len(code) > 8:
        code = VALIDATION_CODES.get(code, OTHER_CODE)
    out = etree.SubElement(response, RES + "Error")
    if text and text != NO_DESCRIPTION:
        if len(text) > 512:
            losses.append(Loss(f"{pointer}/Description", text[512:]))
        etree.SubElement(out, RES + "Description").text = text[:512]
    etree.SubElement(out, RES + "ValidationCode").text = code
    for sequence, section, tag in steps or ():
        step = etree.SubElement(out, RES + "Pointer")
        for name, value in (("SequenceNumeric", sequence), ("DocumentSectionCode", section), ("TagID", tag)):
            if value:
                etree.SubElement(step, RES + name).text = value
