"""EU ICS (phase 1, HMRC) messages <-> canonical payloads, as tables of data groups.

An ICS message is a tree of data groups (``HEAHEA``, ``GOOITEGDS``, ``TRACONCO1`` ...), each a flat list of
fields with EDIFACT-derived names (``GooDesGDS23``). One :class:`Group` per data group says which canonical
element an occurrence becomes and, with a field table (:mod:`gateway.mapping.records`), where each field goes;
the same tables (:mod:`gateway.mapping.ics_tables`) drive both directions; this module maps whole messages.

    CC315A entry summary declaration (ENS)       <-> wco:Declaration  (FunctionCode 9, TypeCode ENS)
    CC313A ENS amendment                         <-> wco:Declaration  (FunctionCode 13, ID = the ENS's MRN)
    CC351A advance intervention notification     <-> wco:RiskAlert    (any RiskArea and action: RISK_CODE)
        the ENS it concerns                       -> RiskAlert/Declaration
        CUSINT632 intervention code and text      -> Indicator (SequenceNumeric: the goods item concerned)
        MesSenMES3 (the notifying system)         -> IssuingAuthority/Name
        RefNumCUSOFFFENT731 (office of first entry; EU office numbers begin with the ISO country code)
                                                  -> IssuingAuthority/CountryCode (its first two letters)

Codes: transport modes are UN/ECE Recommendation 19 (one digit); a two-digit ICS mode (the samples' 42) is
its first digit's Rec 19 mode with the ICS code as ``nationalCode``; countries ISO 3166-1; masses kilograms.
Date-times ``yyyyMMddHHmm`` are read in the partner's time zone (:class:`~gateway.mapping.ics_tables.Profile`,
UTC unless configured).
Language codes (``...LNG``) become ``languageID`` attributes: on the text they qualify, or for a party's name
and address (``NAD LNG``) on the party.
Repeated groups ICS numbers by position (ITI, CONNR2, PACGS2, SEAID529) get a canonical SequenceNumeric from
their position, and must be numbered 1, 2, 3 ... to be rendered.

Transmission data is not carried: the message's sender and recipient identifications, its preparation date and
time (the envelope's CreationDateTime), priority, message type and identification (the envelope's MessageID)
and correlation identifier (the envelope's CorrelationID). Rendering, the gateway writes its own.

What the CC315A cannot carry of a canonical Declaration: everything the WCO DEC adds (parties other than those
above, documents and procedures at header level, values, previous documents, trade terms, goods location,
transport equipment seals, duty and tax ...), nationalCode and unitCode other than KGM. The CC351A carries of
a RiskAlert only what an intervention notification has: no Commodity, Route, Channel, Validity, Attachment,
IssuingAuthority/ID or RecommendedAction/Description; a RiskArea other than ``security`` or an action other
than ``inform`` as the intervention :data:`RISK_CODE`.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.errors import MappingFailed, SchemaInvalid
from gateway.mapping.ics_groups import Group, fields_of, from_canonical, make, to_canonical
from gateway.mapping.ics_tables import Profile, amendment_table, tables
from gateway.mapping.records import Loss, W, leftovers, take_text
from gateway.mapping.structure import Structure, sort_children, structure

ENS_NS, INTERVENTION_NS = "http://ics.dgtaxud.ec/CC315A", "http://ics.dgtaxud.ec/CC351A"
AMENDMENT_NS = "http://ics.dgtaxud.ec/CC313A"
FIXED_DECLARATION = {"FunctionCode": "9", "TypeCode": "ENS"}  # an entry summary declaration, as lodged
# A CC313A is the CC315A's groups but the lodgement office, naming its ENS by MRN (the canonical Declaration/ID);
# its own reference (FunctionalReferenceID, as an HMRC DEC amendment has one of its own) is its MesIdeMES19.
FIXED_AMENDMENT = {"FunctionCode": "13", "TypeCode": "ENS"}
# The CC351A's ENS as FIXED_DECLARATION says.
FIXED_INTERVENTION = {f"Declaration/{path}": value for path, value in FIXED_DECLARATION.items()}
# A CC351A has no field for a risk area or an action: ICS is safety and security risk analysis, and an advance
# intervention notification informs. Any other RiskArea / RecommendedAction travels as one more intervention
# of the whole ENS (no item number) with the gateway-reserved code GWRA and the text RISK_TEXT.
DEFAULT_RISK = ("security", "inform")
RISK_CODE = "GWRA"
RISK_TEXT = re.compile(r"RiskArea (\S+); RecommendedAction (\S+)")
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class Transmission:
    """The MESSAGE fields of an ICS message: not business data, the envelope's in the canonical form."""

    message_id: str  # MesIdeMES19
    prepared: dt.datetime  # DatOfPreMES9 + TimOfPreMES10
    sender: str | None = None  # MesSenMES3
    recipient: str | None = None  # MesRecMES6
    correlation_id: str | None = None  # CorIdeMES25


def transmission(root: etree._Element, profile: Profile) -> Transmission:
    fields = fields_of(root)
    try:
        prepared = dt.datetime.strptime(fields.get("DatOfPreMES9", "") + fields.get("TimOfPreMES10", ""), "%y%m%d%H%M")
    except ValueError:
        raise SchemaInvalid(
            f"/{etree.QName(root).localname}/DatOfPreMES9: {fields.get('DatOfPreMES9')!r} "
            f"{fields.get('TimOfPreMES10')!r} is not a date yyMMdd and time HHmm",
            pointer=f"/{etree.QName(root).localname}/DatOfPreMES9",
        ) from None
    return Transmission(
        message_id=fields.get("MesIdeMES19", ""),
        prepared=prepared.replace(tzinfo=profile.offset),
        sender=fields.get("MesSenMES3") or None,
        recipient=fields.get("MesRecMES6") or None,
        correlation_id=fields.get("CorIdeMES25") or None,
    )


def _message(root: etree._Element, kind: str, sent: Transmission, profile: Profile) -> None:
    local = sent.prepared.astimezone(profile.offset)
    for name, value in (
        ("MesSenMES3", sent.sender),
        ("MesRecMES6", sent.recipient),
        ("DatOfPreMES9", local.strftime("%y%m%d")),
        ("TimOfPreMES10", local.strftime("%H%M")),
        ("MesIdeMES19", sent.message_id),
        ("MesTypMES20", kind),
        (
            "CorIdeMES25",
            sent.correlation_id if sent.correlation_id and len(sent.correlation_id) <= 14 else None,
        ),
    ):
        if value:
            etree.SubElement(root, name).text = value


def _fixed(work: etree._Element, values: dict[str, str], pointer: str) -> None:
    """Take what the message type implies (e.g. TypeCode ENS); any other value cannot be carried."""
    for path, expected in values.items():
        element = work.find("/".join(W + n for n in path.split("/")))
        found = take_text(element) if element is not None else ""
        if found != expected:
            raise MappingFailed(
                f"{pointer}/{path}: the ICS message carries {path} {expected!r} only, not {found!r}",
                pointer=f"{pointer}/{path}",
            )


@functools.cache
def _shape(name: str) -> Structure:
    return structure(_SCHEMAS / "canonical" / "wco.xsd", name)


def _canonical(
    name: str, group: Group, root: etree._Element, given: dict[str, str]
) -> tuple[etree._Element, list[Loss]]:
    """The canonical payload ``name`` of an ICS message: ``given`` values first, then the groups, in order."""
    payload = etree.Element(W + name, nsmap={None: W[1:-1]})
    for path, value in given.items():
        make(payload, path).text = value
    losses = to_canonical(group, root, payload, f"/{group.source}")
    sort_children(payload, _shape(name), name)
    return payload, losses


def ens_to_canonical(root: etree._Element, profile: Profile) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:Declaration`` of a CC315A and the values it cannot carry."""
    return _canonical("Declaration", tables(profile)[0], root, FIXED_DECLARATION)


def ens_from_canonical(
    payload: etree._Element, sent: Transmission, profile: Profile, pointer: str
) -> tuple[etree._Element, list[Loss]]:
    """The CC315A of a ``wco:Declaration`` and the canonical values it cannot carry."""
    work = copy.deepcopy(payload)
    _fixed(work, FIXED_DECLARATION, pointer)
    return _ics("CC315A", ENS_NS, tables(profile)[0], work, sent, profile, pointer)


def amendment_to_canonical(
    root: etree._Element, sent: Transmission, profile: Profile
) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:Declaration`` (FunctionCode 13) of a CC313A and the values it cannot carry."""
    given = {"FunctionalReferenceID": sent.message_id, **FIXED_AMENDMENT}
    return _canonical("Declaration", amendment_table(profile), root, given)


def amendment_from_canonical(
    payload: etree._Element, sent: Transmission, profile: Profile, pointer: str
) -> tuple[etree._Element, list[Loss]]:
    """The CC313A of a ``wco:Declaration`` with FunctionCode 13, and the canonical values it cannot carry."""
    work = copy.deepcopy(payload)
    _fixed(work, FIXED_AMENDMENT, pointer)
    reference = take_text(work.find(W + "FunctionalReferenceID"))
    if not 1 <= len(reference) <= 14:
        raise MappingFailed(
            f"{pointer}/FunctionalReferenceID: {reference!r} cannot be a CC313A's message identification "
            "(MesIdeMES19, an..14), which is its own reference",
            pointer=f"{pointer}/FunctionalReferenceID",
        )
    sent = Transmission(reference, sent.prepared, sent.sender, sent.recipient, sent.correlation_id)
    return _ics("CC313A", AMENDMENT_NS, amendment_table(profile), work, sent, profile, pointer)


def _ics(
    kind: str,
    namespace: str,
    group: Group,
    work: etree._Element,
    sent: Transmission,
    profile: Profile,
    pointer: str,
) -> tuple[etree._Element, list[Loss]]:
    """The ICS message ``kind`` of a canonical working copy, and what is left in the copy: not carried."""
    root = etree.Element(f"{{{namespace}}}{kind}", nsmap={"ie": namespace})
    _message(root, kind, sent, profile)
    from_canonical(group, work, root, pointer)
    return root, leftovers(work, pointer)


def intervention_to_canonical(
    root: etree._Element, sent: Transmission, profile: Profile
) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:RiskAlert`` of a CC351A and the values it cannot carry."""
    office = root.findtext("CUSOFFFENT730/RefNumCUSOFFFENT731") or ""
    work = copy.deepcopy(root)
    area, action = DEFAULT_RISK
    for number, intervention in enumerate(work.findall("CUSINT632"), 1):
        fields = fields_of(intervention)
        if fields.get("CusIntCodCUSINT665") != RISK_CODE:
            continue
        found = RISK_TEXT.fullmatch(fields.get("CusIntTexCUSINT666", ""))
        if found is None:
            where = f"/CC351A/CUSINT632[{number}]/CusIntTexCUSINT666"
            raise MappingFailed(
                f"{where}: {fields.get('CusIntTexCUSINT666')!r} is not the text of an intervention {RISK_CODE} "
                "('RiskArea <area>; RecommendedAction <action>')",
                pointer=where,
            )
        area, action = found.groups()
        work.remove(intervention)
    given = {
        "FunctionalReferenceID": sent.message_id,
        "IssuingAuthority/Name": sent.sender or "",
        "IssuingAuthority/CountryCode": office[:2].upper(),
        "RiskArea": area,
        "RecommendedAction/Code": action,
        **FIXED_INTERVENTION,
    }
    return _canonical("RiskAlert", tables(profile)[1], work, given)


def intervention_from_canonical(
    alert: etree._Element, sent: Transmission, profile: Profile, pointer: str
) -> tuple[etree._Element, list[Loss]]:
    """The CC351A of a ``wco:RiskAlert`` and the canonical values it cannot carry."""
    work = copy.deepcopy(alert)
    _fixed(work, FIXED_INTERVENTION, pointer)
    area_element, action_element = work.find(W + "RiskArea"), work.find(f"{W}RecommendedAction/{W}Code")
    area = take_text(area_element) if area_element is not None else ""
    action = take_text(action_element) if action_element is not None else ""
    reference = take_text(work.find(W + "FunctionalReferenceID"))
    authority = work.find(W + "IssuingAuthority")
    name = take_text(authority.find(W + "Name")) if authority is not None else ""
    given = authority.find(W + "CountryCode") if authority is not None else None
    country = take_text(given) if given is not None else ""
    office = work.findtext(f"{W}Declaration/{W}FirstEntryOffice/{W}ID") or ""
    if country != office[:2].upper():
        raise MappingFailed(
            f"{pointer}/IssuingAuthority/CountryCode: a CC351A names its issuer by the office of first "
            f"entry; {country!r} is not the country of office {office!r}",
            pointer=f"{pointer}/IssuingAuthority/CountryCode",
        )
    sent = Transmission(reference, sent.prepared, name, sent.recipient, sent.correlation_id)
    root, losses = _ics("CC351A", INTERVENTION_NS, tables(profile)[1], work, sent, profile, pointer)
    if (area, action) != DEFAULT_RISK:
        risk = etree.Element("CUSINT632")
        etree.SubElement(risk, "CusIntCodCUSINT665").text = RISK_CODE
        etree.SubElement(risk, "CusIntTexCUSINT666").text = f"RiskArea {area}; RecommendedAction {action}"
        root.findall("CUSINT632")[-1].addnext(risk)
    return root, losses
