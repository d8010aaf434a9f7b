"""A fired rule -> one canonical RiskAlert (``schemas/canonical/wco.xsd``) and the partners it goes to.

Pure: the envelope is built from a :class:`~gateway.controls.findings.Finding`; publishing, signing and
recording are the service's. The consignments concerned travel as an attachment (``consignments.csv``:
time, channel, reference, consignor, route, HS codes, declared brands), digested with SHA-256, since the
RiskAlert has no element per consignment; indicators summarise them.

Receivers: the customs administrations of the destination countries concerned (partners with role
``customs`` whose ``country`` is a destination of the alert's routes) and the single window (role
``single-window``), each only if it receives ``risk-alert`` messages and has a delivery. A suspended one is
included: like every message routed to it, its alert is held in its queue until it is resumed.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal

from lxml import etree

from gateway.controls.facts import plain
from gateway.controls.findings import Finding
from gateway.controls.model import StoredConsignment
from gateway.formats.canonical import WCO_NS, format_datetime, new_envelope
from gateway.partners.model import Partner
from gateway.text import shorten

W = f"{{{WCO_NS}}}"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def reference(issued: dt.datetime) -> str:
    """The alert's FunctionalReferenceID (an..35): RA-<UTC time>-<random>."""
    return f"RA-{issued.astimezone(dt.UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8].upper()}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, W + name)
    if text is not None:
        element.text = text
    return element


def consignments_csv(consignments: Sequence[StoredConsignment]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "time",
            "channel",
            "source",
            "reference",
            "consignor",
            "consignor_id",
            "from",
            "to",
            "hs",
            "declared_brand",
            "unit_value",
        ]
    )
    for c in consignments:
        writer.writerow(
            [
                format_datetime(c.at),
                c.channel,
                c.source,
                c.reference,
                c.consignor,
                c.consignor_id or "",
                c.export_country or "",
                c.destination or "",
                " ".join(i.hs for i in c.items),
                " ".join("(none)" if i.brand == "" else (i.brand or "?") for i in c.items),
                " ".join(str(i.unit_value) if i.unit_value else "?" for i in c.items),
            ]
        )
    return out.getvalue().encode("utf-8")


def risk_alert(
    finding: Finding,
    *,
    alert_reference: str,
    issued: dt.datetime,
    authority_name: str,
    authority_id: str,
    country: str,
    export_country: str | None = None,
) -> etree._Element:
    """The RiskAlert payload, in schema order."""
    rule = finding.rule
    alert = etree.Element(W + "RiskAlert", nsmap={None: WCO_NS})
    _sub(alert, "FunctionalReferenceID", alert_reference)
    _sub(alert, "IssueDateTime", format_datetime(issued))
    authority = _sub(alert, "IssuingAuthority")
    _sub(authority, "Name", shorten(authority_name, 70, collapse=True))
    if len(authority_id) <= 17:
        _sub(authority, "ID", authority_id)
    _sub(authority, "CountryCode", country)
    _sub(alert, "RiskArea", rule.risk_area)
    for code, description in finding.indicators:
        indicator = _sub(alert, "Indicator")
        _sub(indicator, "Code", code)
        _sub(indicator, "Description", shorten(description, 512, collapse=True))
    commodity = finding.commodity
    element = _sub(alert, "Commodity")
    _sub(element, "Description", shorten(commodity.description, 512, collapse=True))
    if commodity.hs:
        _sub(_sub(element, "Classification"), "ID", commodity.hs)
    if commodity.brand:
        _sub(element, "BrandName", shorten(commodity.brand, 256, collapse=True))
    if commodity.unit_value is not None and commodity.unit_value.currency:
        value = commodity.unit_value.value.quantize(Decimal("0.001"))
        unit = _sub(element, "UnitValue", plain(value))
        unit.set("currencyID", commodity.unit_value.currency)
    routes = finding.routes or tuple((export_country or country, d) for d in finding.destinations)
    for origin, destination in routes:
        route = _sub(alert, "Route")
        _sub(route, "ExportationCountryCode", origin)
        _sub(route, "DestinationCountryCode", destination)
    for channel in finding.channels:
        _sub(alert, "Channel", channel)
    action = _sub(alert, "RecommendedAction")
    _sub(action, "Code", rule.action)
    text = rule.action_text or (
        f"{rule.action.capitalize()} consignments matching these indicators"
        + (f" on the routes to {', '.join(finding.destinations)}" if finding.destinations else "")
        + (f"; rule {rule.id}: {rule.description}" if rule.description else f"; rule {rule.id}")
    )
    _sub(action, "Description", shorten(text, 512, collapse=True))
    validity = _sub(alert, "Validity")
    _sub(validity, "StartDateTime", format_datetime(issued))
    _sub(validity, "EndDateTime", format_datetime(issued + dt.timedelta(seconds=rule.validity)))
    if finding.consignments:
        data = consignments_csv(finding.consignments)
        attachment = _sub(alert, "Attachment")
        _sub(attachment, "FileName", "consignments.csv")
        _sub(attachment, "MediaType", "text/csv")
        _sub(attachment, "DigestAlgorithm", SHA256)
        _sub(attachment, "DigestValue", base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"))
        _sub(attachment, "Content", base64.b64encode(data).decode("ascii"))
    return alert


def envelope(
    finding: Finding,
    *,
    message_id: str,
    alert_reference: str,
    participant_id: str,
    issued: dt.datetime,
    authority_name: str,
    country: str,
) -> etree._Element:
    payload = risk_alert(
        finding,
        alert_reference=alert_reference,
        issued=issued,
        authority_name=authority_name,
        authority_id=participant_id,
        country=country,
    )
    return new_envelope(
        message_id=message_id,
        message_type="risk-alert",
        sender=participant_id,
        receiver=None,
        created=issued,
        payload=payload,
    )


def receivers(partners: Mapping[str, Partner], destinations: Sequence[str], *, participant_id: str) -> tuple[str, ...]:
    """The administrations of the destination countries, and the single window."""
    wanted = set(destinations)
    chosen = []
    for partner in partners.values():
        spec = partner.spec
        if partner.id == participant_id or spec.delivery is None or not partner.accepts("risk-alert"):
            continue
        if spec.role == "single-window" or (spec.role == "customs" and spec.country in wanted):
            chosen.append(partner.id)
    return tuple(sorted(chosen))
