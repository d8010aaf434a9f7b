"""A canonical Inventory (CBEC clearance list) -> a canonical Declaration (WCO goods declaration), both canonical.

A foreign administration speaking WCO DM declarations (``wco-dms``) has no message for a cross-border
e-commerce clearance list; what it can use of one is the goods declaration inside it. This mapping builds that
Declaration, so the wco-dms adapter renders a DEC-DMS document from an Inventory as from any Declaration
(the envelope's MessageType stays ``inventory``; the canonical message, with every field, stays in the audit).

    Inventory (ClearanceList)                  Declaration
    FunctionCode 9                             FunctionCode 9 (DEC knows originals only: 5 and 3 refused)
    TraderReferenceID (CEB copNo), else        FunctionalReferenceID (the LRN, an..35)
      FunctionalReferenceID without hyphens
    DeclarationID (CEB invtNo)                 ID
    IssueDateTime                              IssueDateTime
    TypeCode IM                                TypeCode IM (export lists are refused: not mapped yet)
    count of GoodsItem                         GoodsItemQuantity
    DeclarationOfficeID                        DeclarationOfficeID
    sum of GoodsItem/ItemChargeAmount          InvoiceAmount (one currency, else refused)
    TotalGrossMassMeasure                      TotalGrossMassMeasure
    TotalPackageQuantity                       TotalPackageQuantity
    AdditionalInformation/StatementDescription AdditionalInformation/StatementDescription
    BorderTransportMeans/ID, else its Name     BorderTransportMeans/ID (CEB trafNo, kept as the Name, is the
                                                 means' number: flight, vessel)
    BorderTransportMeans/Name (with an ID)     BorderTransportMeans/Name
    BorderTransportMeans/IdentificationTypeCode, RegistrationNationalityCode, ModeCode: the same
    Carrier/Name, ID                           Consignment/Carrier/Name, ID
    Declarant/Name, ID                         Declarant/Name, ID
    Seller/Name, ID                            Exporter/Name, ID
    Consignee/Name, else Buyer/Name            GoodsShipment/Consignee/Name
    Consignee/ID                               GoodsShipment/Consignee/ID
    Consignee/Address/*                        GoodsShipment/Consignee/Address/* and Importer/Address/*
                                                 (CountryCode: the destination when the list has none)
    FreightChargeAmount                        GoodsShipment/CustomsValuation/FreightChargeAmount
    (import list: China)                       GoodsShipment/Destination/CountryCode CN
    ExportCountryCode                          GoodsShipment/ExportCountry/ID
    Buyer/Name                                 GoodsShipment/Importer/Name
    WaybillID (CEB logisticsNo)                GoodsShipment/PreviousDocument Z 703 (house waybill)
    TransportDocumentID (CEB billNo)           GoodsShipment/PreviousDocument Z + by mode 704 master bill of
                                                 lading, 720 rail, 730 road, 741 master air waybill, 750 post,
                                                 ZZZ other
    OrderID                                    GoodsShipment/UCR/TraderAssignedReferenceID
    GoodsItem/SequenceNumeric                  GovernmentAgencyGoodsItem/SequenceNumeric
    GoodsItem/AdditionalInformation            GovernmentAgencyGoodsItem/AdditionalInformation
    GoodsItem/Description (else ItemName)      .../Commodity/Description, followed by "; " and the
      and Specification                          Specification (CEB gmodel: brand, model) when it differs
    GoodsItem/Classification/ID                .../Commodity/Classification/ID (the full national code)
    GoodsItem/Quantity (value, unitCode)       .../Commodity/GoodsMeasure/TariffQuantity
    GoodsItem/ItemChargeAmount                 .../Commodity/InvoiceLine/ItemChargeAmount
    GoodsItem/OriginCountryCode                .../Origin/CountryCode

Deliberately omitted (:data:`OMITTED`; the receiver does not get them, the gateway's stored canonical message
keeps them): China-only references and codes the receiver's procedures have no use for (StatusCode,
BusinessModelCode, Platform, PreEntryID, Surety, BondedAccountID, AcceptanceDate, BorderOfficeID,
BorderCrossingDate, WarehouseKeeper, GoodsLocationID, LicenceID, the ``nationalCode`` attributes beside the
international codes, and per goods item the China legal units TariffQuantity and SupplementaryQuantity and the
country of trade), the buyer's personal data beyond the name and delivery address (Buyer ID, identity document,
telephone; Consignee telephone: data minimisation), values derived or local to the parcel (UnitPriceAmount,
ItemRecordID, ItemID, ItemName beside a Description, BarcodeID, ItemDescription, InsuranceAmount,
PackagingTypeCode, TotalNetMassMeasure) and BorderTransportMeans/JourneyID, which DEC has no place for; the
record guid when copNo is the LRN. Anything else the Declaration cannot carry is a ``mapping-failed`` naming it,
as are an inventory of more than one clearance list (one DEC declares one), an export list, a replacement or
deletion, and item amounts in different currencies.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.records import WCO_NS, Loss, W, leftovers, raise_losses, take_attribute, take_text

DESTINATION = "CN"  # a ClearanceList is a China customs clearance list (BorderOfficeID: where goods enter China)
LRN_LENGTH = 35  # DEC FunctionalReferenceID an..35
HOUSE_WAYBILL = "703"
MASTER_DOCUMENT = {"1": "704", "2": "720", "3": "730", "4": "741", "5": "750"}  # UN/ECE Rec 19 mode -> WCO 1001
OTHER_DOCUMENT = "ZZZ"

OMITTED: frozenset[str] = frozenset({
    "FunctionalReferenceID", "StatusCode", "BusinessModelCode", "Platform/Name", "Platform/ID", "PreEntryID",
    "Surety/ID", "BondedAccountID", "AcceptanceDate", "BorderOfficeID", "BorderCrossingDate",
    "Buyer/ID", "Buyer/IdentityDocument/TypeCode", "Buyer/IdentityDocument/ID", "Buyer/Communication/ID",
    "Buyer/Communication/TypeCode", "Consignee/Communication/ID", "Consignee/Communication/TypeCode",
    "WarehouseKeeper/Name", "WarehouseKeeper/ID", "BorderTransportMeans/ModeCode/@nationalCode",
    "BorderTransportMeans/JourneyID", "GoodsLocationID", "LicenceID", "InsuranceAmount",
    "InsuranceAmount/@currencyID", "PackagingTypeCode", "PackagingTypeCode/@nationalCode", "TotalNetMassMeasure",
    "TotalNetMassMeasure/@unitCode",
})  # fmt: skip
"""ClearanceList paths (elements, ``/@attribute``) the Declaration deliberately leaves out."""

ITEM_OMITTED: frozenset[str] = frozenset({
    "ItemRecordID", "ItemID", "ItemName", "BarcodeID", "ItemDescription", "TradeCountryCode",
    "Quantity/@nationalCode", "TariffQuantity", "TariffQuantity/@unitCode", "TariffQuantity/@nationalCode",
    "SupplementaryQuantity", "SupplementaryQuantity/@unitCode", "SupplementaryQuantity/@nationalCode",
    "UnitPriceAmount", "UnitPriceAmount/@currencyID",
})  # fmt: skip
"""GoodsItem paths the Declaration deliberately leaves out."""

_NS = {"w": WCO_NS}
_INVENTORY = "/Envelope/Body/Inventory"


def _find(parent: etree._Element, path: str) -> etree._Element | None:
    return parent.find("/".join(f"w:{step}" for step in path.split("/")), _NS)


def _take(parent: etree._Element, path: str) -> str | None:
    """The text at ``path`` (None when absent or empty), cleared from the working copy."""
    element = _find(parent, path)
    return (take_text(element) or None) if element is not None else None


def _take_with(parent: etree._Element, path: str, attribute: str) -> tuple[str, str] | None:
    """The text and one attribute (currencyID, unitCode) at ``path``, both cleared."""
    element = _find(parent, path)
    if element is None:
        return None
    return take_text(element), take_attribute(element, attribute)


def _put(parent: etree._Element, path: str, text: str | None, **attributes: str) -> None:
    """Append ``path`` (created as needed, each step at the end) with ``text``; nothing when text is None."""
    if text is None:
        return
    *steps, last = path.split("/")
    for step in steps:
        found = parent.find(W + step)
        parent = found if found is not None and found is parent[-1] else etree.SubElement(parent, W + step)
    etree.SubElement(parent, W + last, {k: v for k, v in attributes.items() if v}).text = text


def _omit(work: etree._Element, paths: frozenset[str]) -> None:
    """Clear the deliberately omitted values from the working copy, so only unexpected ones remain."""
    for path in paths:
        element_path, _, attribute = path.partition("/@")
        element = _find(work, element_path)
        if element is None:
            continue
        if attribute:
            element.attrib.pop(attribute, None)
        else:
            element.text = None


def _refuse(pointer: str, message: str) -> MappingFailed:
    return MappingFailed(f"{pointer}: {message}", pointer=pointer)


def inventory_to_declaration(inventory: etree._Element, pointer: str = _INVENTORY) -> etree._Element:
    """The canonical ``wco:Declaration`` of a canonical ``wco:Inventory`` of one import clearance list.

    ``mapping-failed`` naming the field when the Inventory holds what a Declaration cannot carry (other than
    :data:`OMITTED` and :data:`ITEM_OMITTED`) or a value without a Declaration form."""
    if inventory.find(W + "ExportClearanceList") is not None:
        raise _refuse(
            f"{pointer}/ExportClearanceList",
            "an export clearance list (CEB603) is not mapped to a declaration; only import clearance lists "
            "(ClearanceList, TypeCode IM) are",
        )
    lists = inventory.findall(W + "ClearanceList")
    if len(lists) != 1:
        raise _refuse(
            f"{pointer}/ClearanceList",
            f"a declaration declares one clearance list; this inventory holds {len(lists)}",
        )
    work, where = copy.deepcopy(lists[0]), f"{pointer}/ClearanceList"
    mode = (work.findtext(f"{W}BorderTransportMeans/{W}ModeCode") or "").strip()  # read before it is taken
    declaration = etree.Element(W + "Declaration", nsmap={None: WCO_NS})
    _header(work, declaration, where)
    _parties_and_transport(work, declaration)
    _shipment(work, etree.SubElement(declaration, W + "GoodsShipment"), mode)
    _omit(work, OMITTED)
    losses: list[Loss] = []
    for item in work.findall(W + "GoodsItem"):
        _omit(item, ITEM_OMITTED)
    losses.extend(leftovers(work, where))
    raise_losses(losses, "WCO declaration")
    return declaration


def _header(work: etree._Element, declaration: etree._Element, where: str) -> None:
    function = _take(work, "FunctionCode")
    if function != "9":
        raise _refuse(
            f"{where}/FunctionCode",
            f"{function!r} cannot be declared: a WCO DMS declaration is an original (9); replacements (5) and "
            "deletions (3) of a clearance list are not mapped to declaration amendments or cancellations",
        )
    type_code = _take(work, "TypeCode")
    if type_code != "IM":
        raise _refuse(
            f"{where}/TypeCode",
            f"{type_code!r}: only import clearance lists (IM) are mapped to a declaration; export lists are not",
        )
    record_id = (work.findtext(W + "FunctionalReferenceID") or "").strip()
    lrn = _take(work, "TraderReferenceID") or record_id.replace("-", "")
    if len(lrn) > LRN_LENGTH:
        raise _refuse(
            f"{where}/TraderReferenceID",
            f"no local reference number: neither TraderReferenceID nor the FunctionalReferenceID {record_id!r} "
            f"(without hyphens) fits the declaration's {LRN_LENGTH} characters",
        )
    items = work.findall(W + "GoodsItem")
    _put(declaration, "FunctionCode", function)
    _put(declaration, "FunctionalReferenceID", lrn)
    _put(declaration, "ID", _take(work, "DeclarationID"))
    _put(declaration, "IssueDateTime", _take(work, "IssueDateTime"))
    _put(declaration, "TypeCode", type_code)
    _put(declaration, "GoodsItemQuantity", str(len(items)))
    _put(declaration, "DeclarationOfficeID", _take(work, "DeclarationOfficeID"))
    total, currency = _invoice_amount(items, where)
    _put(declaration, "InvoiceAmount", total, currencyID=currency)
    gross = _take_with(work, "TotalGrossMassMeasure", "unitCode")
    if gross:
        _put(declaration, "TotalGrossMassMeasure", gross[0], unitCode=gross[1])
    _put(declaration, "TotalPackageQuantity", _take(work, "TotalPackageQuantity"))
    _put(
        declaration,
        "AdditionalInformation/StatementDescription",
        _take(work, "AdditionalInformation/StatementDescription"),
    )


def _invoice_amount(items: list[etree._Element], where: str) -> tuple[str, str]:
    """The sum of the item amounts (read, not taken: the goods items take them), in their one currency."""
    amounts = [(item.findtext(W + "ItemChargeAmount") or "0", _currency(item)) for item in items]
    currencies = sorted({currency for _, currency in amounts})
    if len(currencies) != 1:
        raise _refuse(
            f"{where}/GoodsItem/ItemChargeAmount/@currencyID",
            f"the goods items are priced in {', '.join(currencies) or 'no currency'}; a declaration's invoice "
            "amount has one currency",
        )
    total = sum((Decimal(value.strip()) for value, _ in amounts), Decimal(0))
    return format(total.normalize(), "f"), currencies[0]


def _currency(item: etree._Element) -> str:
    amount = item.find(W + "ItemChargeAmount")
    return "" if amount is None else str(amount.get("currencyID", ""))


def _parties_and_transport(work: etree._Element, declaration: etree._Element) -> None:
    means_id, means_name = _take(work, "BorderTransportMeans/ID"), _take(work, "BorderTransportMeans/Name")
    if means_id is None:
        means_id, means_name = means_name, None
    _put(declaration, "BorderTransportMeans/Name", means_name)
    _put(declaration, "BorderTransportMeans/ID", means_id)
    for name in ("IdentificationTypeCode", "RegistrationNationalityCode", "ModeCode"):
        _put(declaration, f"BorderTransportMeans/{name}", _take(work, f"BorderTransportMeans/{name}"))
    carrier = {name: _take(work, f"Carrier/{name}") for name in ("Name", "ID")}
    for name, value in carrier.items():
        _put(declaration, f"Consignment/Carrier/{name}", value)
    for source, target in (("Declarant", "Declarant"), ("Seller", "Exporter")):
        for name in ("Name", "ID"):
            _put(declaration, f"{target}/{name}", _take(work, f"{source}/{name}"))


def _shipment(work: etree._Element, shipment: etree._Element, mode: str) -> None:
    buyer = _take(work, "Buyer/Name")
    address = {
        name: _take(work, f"Consignee/Address/{name}")
        for name in ("CityName", "CountryCode", "CountrySubDivisionCode", "Line", "PostcodeID")
    }
    if address["CountryCode"] is None and any(address.values()):
        address["CountryCode"] = DESTINATION

    def party(role: str, name: str | None, identifier: str | None) -> None:
        _put(shipment, f"{role}/Name", name)
        _put(shipment, f"{role}/ID", identifier)
        for part, value in address.items():
            _put(shipment, f"{role}/Address/{part}", value)

    party("Consignee", _take(work, "Consignee/Name") or buyer, _take(work, "Consignee/ID"))
    freight = _take_with(work, "FreightChargeAmount", "currencyID")
    if freight:
        _put(shipment, "CustomsValuation/FreightChargeAmount", freight[0], currencyID=freight[1])
    _put(shipment, "Destination/CountryCode", DESTINATION)
    _put(shipment, "ExportCountry/ID", _take(work, "ExportCountryCode"))
    for item in work.findall(W + "GoodsItem"):
        _goods_item(item, shipment)
    party("Importer", buyer, None)
    for path, type_code in (
        ("WaybillID", HOUSE_WAYBILL),
        ("TransportDocumentID", MASTER_DOCUMENT.get(mode, OTHER_DOCUMENT)),
    ):
        document = _take(work, path)
        if document is not None:
            previous = etree.SubElement(shipment, W + "PreviousDocument")
            _put(previous, "CategoryCode", "Z")
            _put(previous, "ID", document)
            _put(previous, "TypeCode", type_code)
    _put(shipment, "UCR/TraderAssignedReferenceID", _take(work, "OrderID"))


def _goods_item(item: etree._Element, shipment: etree._Element) -> None:
    goods = etree.SubElement(shipment, W + "GovernmentAgencyGoodsItem")
    _put(goods, "SequenceNumeric", _take(item, "SequenceNumeric"))
    _put(goods, "AdditionalInformation/StatementDescription", _take(item, "AdditionalInformation/StatementDescription"))
    description = _take(item, "Description") or _take(item, "ItemName")
    specification = _take(item, "Specification")
    if specification and specification != description:
        description = f"{description}; {specification}" if description else specification
    commodity = etree.SubElement(goods, W + "Commodity")
    _put(commodity, "Description", description)
    _put(commodity, "Classification/ID", _take(item, "Classification/ID"))
    quantity = _take_with(item, "Quantity", "unitCode")
    if quantity:
        _put(commodity, "GoodsMeasure/TariffQuantity", quantity[0], unitCode=quantity[1])
    amount = _take_with(item, "ItemChargeAmount", "currencyID")
    if amount:
        _put(commodity, "InvoiceLine/ItemChargeAmount", amount[0], currencyID=amount[1])
    _put(goods, "Origin/CountryCode", _take(item, "OriginCountryCode"))
