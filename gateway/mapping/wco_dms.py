"""HMRC CDS WCO DM 3.6 messages <-> canonical payloads: DEC-DMS declarations and RES-DMS notifications.

Declarations map path for path. The canonical ``wco:Declaration`` uses the WCO Data Model's names in the DEC
schema's order (``schemas/canonical/wco.xsd``), so an element at the same path in both schemas is carried as
it is (:mod:`gateway.mapping.structure` reads both schemas); only these need code:

    IssueDateTime, AcceptanceDateTime   DEC ``DateTimeString`` formatCode 304 (``yyyyMMddHHmmss`` + Z or
                                        +hh) <-> xs:dateTime; formatCode 102 (a date) has no canonical form
    masses without unitCode             HMRC CDS gives gross and net masses in kilograms: unitCode KGM
    attributes                          currencyID and unitCode are carried; others are not

What the canonical Declaration has no place for (the HMRC schema has 460 element paths, the canonical form
about 150 of them: e.g. Buyer, Seller, Invoice, Warehouse, Payer, CurrencyExchange, DutyTaxFee amounts,
attributes such as languageID or listID) is named in a ``mapping-failed``: never dropped. The MetaData wrapper
(data model version, type name, responsible country and agency, customization version) describes the
transmission and is not carried; the gateway writes its own (:class:`Profile`).

Canonical -> DEC reports what DEC cannot carry (:class:`~gateway.mapping.records.Loss`): the EU ICS additions
of the canonical form (IssueLocationName, FirstEntryOffice, NotifyParty, UnloadingLocation, goods item
BorderTransportMeans, Freight and LoadingLocation, Packaging PieceCountQuantity, consignment Seal),
BorderTransportMeans JourneyID, languageID and nationalCode attributes. Values longer than DEC allows (names
an..70, identifiers an..17) are refused by the DEC schema, which the renderer's caller validates.

RES-DMS notifications with FunctionCode 02 (DMSRCV, received) and 03 (DMSREJ, rejected) are receipts
(``wco:Receipt`` accepted / rejected). The other function codes are customs decisions (01 accepted, 07
amended, 09 cleared ...) without a canonical message type. A WCO error pointer (a list of DocumentSectionCode,
SequenceNumeric, TagID) is written as text, ``42A/67A/68A[2]/23A#145``; a RES error without a Description gets
:data:`NO_DESCRIPTION`, which the canonical form requires.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.records import Loss, W, leftovers, path_in, take_text
from gateway.mapping.structure import Structure, structure

MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
DEC_DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
RES_DS_NS = "urn:wco:datamodel:WCO:Response_DS:DMS:2"
MD, DEC, RES = f"{{{MD_NS}}}", f"{{{DEC_NS}}}", f"{{{RES_NS}}}"
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

DATE_TIMES = frozenset({"Declaration/AcceptanceDateTime", "Declaration/IssueDateTime"})
_ITEM_MEASURE = "Declaration/GoodsShipment/GovernmentAgencyGoodsItem/Commodity/GoodsMeasure"
KILOGRAMS = frozenset(
    {
        "Declaration/TotalGrossMassMeasure",
        f"{_ITEM_MEASURE}/GrossMassMeasure",
        f"{_ITEM_MEASURE}/NetNetWeightMeasure",
    }
)
ATTRIBUTES = frozenset({"currencyID", "unitCode"})

RECEIVED, REJECTED = "02", "03"  # RES FunctionCode: DMSRCV, DMSREJ
RECEIPT_CODES: Mapping[str, str] = {RECEIVED: "accepted", REJECTED: "rejected"}
OTHER_NOTIFICATIONS: Mapping[str, str] = {
    "01": "DMSACC (declaration accepted)",
    "05": "DMSCTL (control)",
    "06": "DMSDOC (documents required)",
    "07": "DMSRES (declaration amended)",
    "08": "DMSROG (goods released)",
    "09": "DMSCLE (cleared)",
    "10": "DMSINV (invalidated)",
    "11": "DMSREQ (request)",
    "13": "DMSTAX (tax)",
    "14": "DMSCPI",
    "15": "DMSCPR",
    "16": "DMSEOG (exit of goods)",
    "17": "DMSGER",
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
    "schema-invalid": "GWSCHEMA",
    "mapping-failed": "GWMAPPNG",
    "no-route": "GWROUTE",
    "unavailable": "GWUNAVAI",
    "matching-failed": "GWMATCH",
    "matching-incomplete": "GWMATINC",
}
OTHER_CODE = "GWERROR"


@dataclass(frozen=True)
class Profile:
    """The MetaData wrapper the gateway writes: the HMRC CDS customization of WCO DM 3.6."""

    data_model_version: str = "3.6"
    responsible_country: str = "GB"
    responsible_agency: str = "HMRC"
    customization_version: str = "v2.1"


def canonical_shape() -> Structure:
    return structure(_SCHEMAS / "canonical" / "wco.xsd", "Declaration")


def dec_shape() -> Structure:
    return structure(_SCHEMAS / "wco-dms" / "declaration" / "WCO_DEC_2_DMS.xsd", "Declaration")


def carried(path: str) -> bool:
    """The same element path exists in the DEC schema and in the canonical Declaration."""
    return path in canonical_shape() and path in dec_shape()


def localname(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def elements(parent: etree._Element) -> Iterator[etree._Element]:
    return (c for c in parent if isinstance(c.tag, str))


# --- date-times: DEC/RES DateTimeString <-> xs:dateTime ---------------------------------------------

_304 = re.compile(r"^(\d{14})(Z|[-+]\d\d)$")


def from_304(container: etree._Element, pointer: str) -> str:
    """The xs:dateTime of a ``<X><DateTimeString formatCode="304">20230526203214+01</DateTimeString></X>``."""
    string = next(elements(container), None)
    text = (string.text or "").strip() if string is not None else ""
    code = string.get("formatCode") if string is not None else None
    found = _304.match(text)
    if code != "304" or not found:
        raise MappingFailed(
            f"{pointer}/DateTimeString: {text!r} (formatCode {code}) is not a date and time with a zone "
            "(formatCode 304, yyyyMMddHHmmss followed by Z or +hh/-hh), which the canonical form needs",
            pointer=f"{pointer}/DateTimeString",
        )
    stamp, zone = found.groups()
    offset = dt.UTC if zone == "Z" else dt.timezone(dt.timedelta(hours=int(zone)))
    return (
        dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=offset).isoformat().replace("+00:00", "Z")
    )


def to_304(text: str, pointer: str) -> str:
    """``yyyyMMddHHmmss`` + zone; offsets that are not whole hours are written in UTC (the same instant)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MappingFailed(f"{pointer}: {text!r} is not an xs:dateTime", pointer=pointer) from None
    if value.microsecond:
        raise MappingFailed(
            f"{pointer}: {text!r} has fractions of a second, which the WCO DMS date-time cannot carry",
            pointer=pointer,
        )
    offset = value.utcoffset() or dt.timedelta(0)
    if offset % dt.timedelta(hours=1):
        value, offset = value.astimezone(dt.UTC), dt.timedelta(0)
    hours = int(offset.total_seconds()) // 3600
    zone = "Z" if not hours else f"{hours:+03d}"
    return value.strftime("%Y%m%d%H%M%S") + zone


def date_time_string(parent: etree._Element, name: str, ds_ns: str, text: str, pointer: str) -> None:
    holder = etree.SubElement(parent, name)
    string = etree.SubElement(holder, f"{{{ds_ns}}}DateTimeString", formatCode="304", nsmap={"ds": ds_ns})
    string.text = to_304(text, pointer)


# --- declarations ---------------------------------------------------------------------------------


def declaration_to_canonical(declaration: etree._Element, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:Declaration`` of a DEC-DMS Declaration, and every DEC value the canonical form lacks."""
    payload = etree.Element(W + "Declaration", nsmap={None: W[1:-1]})
    losses: list[Loss] = []
    _copy(declaration, payload, "Declaration", W, pointer, losses, canonical_shape())
    return payload, losses


def declaration_from_canonical(payload: etree._Element, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The DEC-DMS Declaration of a ``wco:Declaration``, and every canonical value DEC cannot carry."""
    declaration = etree.Element(DEC + "Declaration", nsmap={None: DEC_NS})
    losses: list[Loss] = []
    _copy(payload, declaration, "Declaration", DEC, pointer, losses, canonical_shape())
    return declaration, losses


def _copy(
    source: etree._Element,
    target: etree._Element,
    path: str,
    namespace: str,
    pointer: str,
    losses: list[Loss],
    shape: Structure,
) -> None:
    """Copy the children of ``source`` that both schemas have at the same path into ``target``'s namespace."""
    inbound = namespace == W
    for child in elements(source):
        name = localname(child)
        child_path = f"{path}/{name}"
        where = pointer + path_in(source, child)
        if not carried(child_path):
            losses.extend(leftovers(child, where))
            continue
        if child_path in DATE_TIMES:
            if inbound:
                etree.SubElement(target, namespace + name).text = from_304(child, where)
            else:
                date_time_string(target, namespace + name, DEC_DS_NS, (child.text or "").strip(), where)
            continue
        out = etree.SubElement(target, namespace + name)
        allowed = ATTRIBUTES & shape[child_path].attributes
        for key, value in child.attrib.items():
            if key in allowed:
                out.set(key, value)
            else:
                losses.append(Loss(f"{where}/@{key}", str(value)))
        if inbound and child_path in KILOGRAMS and "unitCode" not in out.attrib:
            out.set("unitCode", "KGM")
        if shape[child_path].leaf:
            out.text = (child.text or "").strip()
            if not out.text:
                target.remove(out)  # an empty DEC element says nothing
        else:
            _copy(child, out, child_path, namespace, where, losses, shape)


def metadata(type_name: str, payload: etree._Element, profile: Profile) -> etree._Element:
    """The DocumentMetaData wrapper around a DEC Declaration or a RES Response."""
    root = etree.Element(MD + "MetaData", nsmap={"md": MD_NS})
    for name, value in (
        ("WCODataModelVersionCode", profile.data_model_version),
        ("WCOTypeName", type_name),
        ("ResponsibleCountryCode", profile.responsible_country),
        ("ResponsibleAgencyName", profile.responsible_agency),
        ("AgencyAssignedCustomizationVersionCode", profile.customization_version),
    ):
        if value:
            etree.SubElement(root, MD + name).text = value
    root.append(payload)
    return root


# --- RES-DMS notifications <-> canonical receipts ----------------------------------------------------

_STEP = re.compile(
    r"(?P<section>[0-9A-Z]{1,3})?(?:\[(?P<seq>[1-9][0-9]{0,4})\])?(?:#(?P<tag>[0-9A-Z]{1,4}))?"
)


def pointer_text(pointers: Sequence[etree._Element]) -> str:
    """RES Pointer elements (DocumentSectionCode, SequenceNumeric, TagID) as ``42A/68A[2]/23A#145``."""
    steps = []
    for pointer in pointers:
        section = pointer.findtext(RES + "DocumentSectionCode") or ""
        sequence = pointer.findtext(RES + "SequenceNumeric")
        tag = pointer.findtext(RES + "TagID")
        steps.append(
            section.strip()
            + (f"[{sequence.strip()}]" if sequence else "")
            + (f"#{tag.strip()}" if tag else "")
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
            f"{pointer}/IssueDateTime: the notification gives no issue date and time; "
            "a canonical receipt needs one",
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


def response_from_canonical(
    receipt: etree._Element, own_id: str, pointer: str
) -> tuple[etree._Element, list[Loss]]:
    """The RES-DMS Response of a ``wco:Receipt`` (DMSRCV or DMSREJ), and the values it cannot carry."""
    work = copy.deepcopy(receipt)
    response = etree.Element(RES + "Response", nsmap={None: RES_NS})
    function = take_text(work.find(W + "FunctionCode"))
    etree.SubElement(response, RES + "FunctionCode").text = RECEIVED if function == "accepted" else REJECTED
    own = work.find(W + "GatewayMessageID")
    identity = (take_text(own) if own is not None else own_id).replace("-", "")
    if len(identity) > 35:  # RES an..35
        raise MappingFailed(
            f"{pointer}/GatewayMessageID: {identity!r} is longer than the 35 characters "
            "of a RES FunctionalReferenceID",
            pointer=f"{pointer}/GatewayMessageID",
        )
    etree.SubElement(response, RES + "FunctionalReferenceID").text = identity
    issued = work.find(W + "IssueDateTime")
    date_time_string(
        response, RES + "IssueDateTime", RES_DS_NS, take_text(issued), f"{pointer}/IssueDateTime"
    )
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
        else:
            etree.SubElement(answered, RES + name).text = value
    return response, losses + leftovers(work, pointer)


def _error_from_canonical(
    error: etree._Element, response: etree._Element, pointer: str, losses: list[Loss]
) -> None:
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
