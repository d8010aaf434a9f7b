"""HMRC CDS WCO DM 3.6 DEC-DMS declarations <-> the canonical ``wco:Declaration``; the DMS wrapper and dates.

Declarations map path for path. The canonical ``wco:Declaration`` is generated from the DEC schema
(``schemas/canonical/declaration.xsd``, ``scripts/canonical/generate_declaration.py``): every DEC element path,
with its name, order, cardinality, type and attributes, so every element and attribute of a valid DEC
declaration is carried as it is, text unchanged (nothing trimmed, nothing added). Only dates need code:

    DateTimeString formatCode 304   yyyyMMddHHmmss + Z / +hh / -hh  <-> xs:dateTime (Z, +hh:00, -hh:00 kept)
    DateTimeString formatCode 102   yyyyMMdd                         <-> xs:date

A 304 string without a time or a 102 string with one says two different things; such a value, and a date
that is not in the calendar (the DEC pattern allows 20231399), is ``mapping-failed`` naming it.

Canonical -> DEC reports what DEC cannot carry (:class:`~gateway.mapping.records.Loss`): the canonical
additions (EU ICS data such as IssueLocationName, FirstEntryOffice, NotifyParty, UnloadingLocation, goods item
BorderTransportMeans, Freight and LoadingLocation, Packaging PieceCountQuantity, consignment Seal,
BorderTransportMeans JourneyID; languageID on parties and identifiers; nationalCode), and date-times with
fractions of a second. Values DEC's facets refuse (e.g. an ICS name longer than DEC allows) are found by
validating the rendered document (:mod:`gateway.formats.wco_dms`) and reported as ``mapping-failed`` too.
The MetaData wrapper (data model version, type name, responsible country and agency, customization version)
describes the transmission and is not carried; the gateway writes its own (:class:`Profile`).

RES-DMS notifications (receipts): :mod:`gateway.mapping.dms_receipt`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.records import Loss, W, leftovers
from gateway.mapping.structure import Structure, structure

MD_NS = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
DEC_NS = "urn:wco:datamodel:WCO:DEC-DMS:2"
RES_NS = "urn:wco:datamodel:WCO:RES-DMS:2"
DEC_DS_NS = "urn:wco:datamodel:WCO:Declaration_DS:DMS:2"
RES_DS_NS = "urn:wco:datamodel:WCO:Response_DS:DMS:2"
MD, DEC, RES = f"{{{MD_NS}}}", f"{{{DEC_NS}}}", f"{{{RES_NS}}}"
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class Profile:
    """The MetaData wrapper the gateway writes: the HMRC CDS customization of WCO DM 3.6."""

    data_model_version: str = "3.6"
    responsible_country: str = "GB"
    responsible_agency: str = "HMRC"
    customization_version: str = "v2.1"


@functools.cache
def canonical_shape() -> Structure:
    return structure(_SCHEMAS / "canonical" / "wco.xsd", "Declaration")


@functools.cache
def dec_shape() -> Structure:
    return structure(_SCHEMAS / "wco-dms" / "declaration" / "WCO_DEC_2_DMS.xsd", "Declaration")


@functools.cache
def date_times() -> frozenset[str]:
    """The DEC paths whose content is a ``DateTimeString``: an xs:dateTime or xs:date in the canonical form."""
    return frozenset(path for path, node in dec_shape().items() if node.children == ("DateTimeString",))


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
    return dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=offset).isoformat().replace("+00:00", "Z")


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
        try:
            value, offset = value.astimezone(dt.UTC), dt.timedelta(0)
        except OverflowError:  # year 1 or 9999 moved across the calendar's ends (was a 500)
            raise MappingFailed(
                f"{pointer}: {text!r} is outside the dates the WCO DMS date-time can carry", pointer=pointer
            ) from None
    hours = int(offset.total_seconds()) // 3600
    zone = "Z" if not hours else f"{hours:+03d}"
    return value.strftime("%Y%m%d%H%M%S") + zone


def date_time_string(parent: etree._Element, name: str, ds_ns: str, text: str, pointer: str) -> None:
    holder = etree.SubElement(parent, name)
    string = etree.SubElement(holder, f"{{{ds_ns}}}DateTimeString", formatCode="304", nsmap={"ds": ds_ns})
    string.text = to_304(text, pointer)


# --- declarations ---------------------------------------------------------------------------------

# re.ASCII: \d alone matches every script's digits (fullwidth U+FF10-FF19), which int() reads and
# fromisoformat refuses (a 500).
_DEC_DATE = re.compile(r"^(\d{4})(\d\d)(\d\d)$", re.ASCII)
_DEC_DATE_TIME = re.compile(r"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(Z|[-+]\d\d)$", re.ASCII)
_DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")
_DATE_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(Z|[-+]\d\d:00)$")


def date_from_dec(container: etree._Element, pointer: str) -> str:
    """The canonical xs:dateTime (304) or xs:date (102) of a DEC ``<X><DateTimeString formatCode=..>``."""
    string = next(elements(container), None)
    text = (string.text or "") if string is not None else ""
    code = string.get("formatCode") if string is not None else None
    where = f"{pointer}/DateTimeString"
    dated, timed = _DEC_DATE.match(text), _DEC_DATE_TIME.match(text)
    if code == "102" and dated:
        value = "{}-{}-{}".format(*dated.groups())
    elif code == "304" and timed:
        year, month, day, hour, minute, second, zone = timed.groups()
        zone = zone if zone == "Z" else f"{zone}:00"
        value = f"{year}-{month}-{day}T{hour}:{minute}:{second}{zone}"
    else:
        raise MappingFailed(
            f"{where}: {text!r} (formatCode {code}) does not match its format code (102: yyyyMMdd, 304: "
            "yyyyMMddHHmmss followed by Z or +hh/-hh), so the date it means is not known",
            pointer=where,
        )
    try:
        dt.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
        if "T" in value:
            dt.time(int(value[11:13]), int(value[14:16]), int(value[17:19]))
    except ValueError:
        raise MappingFailed(f"{where}: {text!r} is not a date in the calendar", pointer=where) from None
    return value


def date_to_dec(parent: etree._Element, name: str, text: str, pointer: str) -> None:
    """The DEC ``<name><DateTimeString formatCode=..>`` of a canonical xs:date (102) or xs:dateTime (304)."""
    holder = etree.SubElement(parent, name)
    string = etree.SubElement(holder, f"{{{DEC_DS_NS}}}DateTimeString", nsmap={"ds": DEC_DS_NS})
    dated, timed = _DATE.match(text), _DATE_TIME.match(text)
    if dated:
        string.set("formatCode", "102")
        string.text = "".join(dated.groups())
    elif timed:
        string.set("formatCode", "304")
        *stamp, zone = timed.groups()
        string.text = "".join(stamp) + (zone if zone == "Z" else zone[:3])
    else:
        string.set("formatCode", "304")
        string.text = to_304(text, pointer)


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
    _copy(payload, declaration, "Declaration", DEC, pointer, losses, dec_shape())
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
    """Copy the children of ``source`` that the target's schema (``shape``) has at the same path, text and
    attributes as they are, into ``target``'s namespace; report the others."""
    inbound, dates = namespace == W, date_times()
    for child, name, step in _steps(source):
        child_path = f"{path}/{name}"
        node = shape.get(child_path)
        if node is None:
            losses.extend(leftovers(child, f"{pointer}/{step}"))
            continue
        if child_path in dates:
            where = f"{pointer}/{step}"
            if inbound:
                etree.SubElement(target, namespace + name).text = date_from_dec(child, where)
            else:
                date_to_dec(target, namespace + name, child.text or "", where)
            continue
        attributes = child.attrib
        if attributes and not node.attributes.issuperset(attributes.keys()):
            where = f"{pointer}/{step}"
            losses.extend(Loss(f"{where}/@{k}", str(v)) for k, v in attributes.items() if k not in node.attributes)
            attributes = {k: v for k, v in attributes.items() if k in node.attributes}
        out = etree.SubElement(target, namespace + name, attributes)
        if node.leaf:
            out.text = child.text
        else:
            _copy(child, out, child_path, namespace, f"{pointer}/{step}", losses, shape)


def _steps(parent: etree._Element) -> list[tuple[etree._Element, str, str]]:
    """The child elements with their name and XPath step: ``Name``, or ``Name[n]`` where the name repeats."""
    children = [(c, c.tag.rpartition("}")[2]) for c in parent if isinstance(c.tag, str)]
    counts = Counter(name for _, name in children)
    if all(count == 1 for count in counts.values()):
        return [(child, name, name) for child, name in children]
    seen: Counter[str] = Counter()
    out = []
    for child, name in children:
        seen[name] += 1
        out.append((child, name, f"{name}[{seen[name]}]" if counts[name] > 1 else name))
    return out


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
