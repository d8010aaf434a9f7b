"""GACC CEB 2022-05 business messages <-> canonical CBEC payloads, as field tables.

One :class:`Kind` per CEB message the gateway maps: its root, the element wrapping one record
(``<ceb:Order>``), the record's head and goods lines, the CEB field sequences (from the GACC XSD; ``?`` marks
an optional field; a test keeps them equal to the XSD) and the field tables (:mod:`gateway.mapping.records`).

    CEB311 order (import)     <-> Order/ElectronicOrder       receipt CEB312 OrderReturn
    CEB303 order (export)     <-> Order/ElectronicOrder       receipt CEB304 OrderReturn
    CEB411 payment voucher    <-> Payment/PaymentVoucher      receipt CEB412 PaymentReturn
    CEB511 logistics waybill  <-> Logistics/Waybill           receipt CEB512 LogisticsReturn
    CEB621 import inventory   <-> Inventory/ClearanceList     receipt CEB622 InventoryReturn
    CEB623 cancellation       <-> InventoryCancellation/CancellationRequest   receipt CEB624 InvtCancelReturn
    CEB625 return request     <-> InventoryReturn/ReturnRequest               receipt CEB626 InvtRefundReturn
    CEB816 tax bill           <-> TaxAssessment/TaxBill       (no CEB receipt: CEB900)
    CEB818 tax bill status    <-> TaxPayment/TaxBill          (no CEB receipt: CEB900)

Not carried into the canonical form, because they describe the transmission and not the business data:
the root's ``version``, ``BaseTransfer`` (the transmitting enterprise and its DXP id), ``BaseSubscribe``
(receipt subscriptions), ``ExtendMessage`` (free extension) and the signature. Rendering CEB, the gateway
writes its own ``BaseTransfer`` (:class:`Transfer`) and its own message id as the root ``guid``.

What the CEB messages cannot carry of the canonical records (rendering them is a ``mapping-failed`` that names
each such value; :func:`from_canonical_payload` returns them as :class:`~gateway.mapping.records.Loss`):

    all        the envelope's MessageID, Sender, Receiver, CorrelationID; more than 100 records or 99 goods
               lines; amounts of one record in different currencies; weights in other units than KGM;
               telephone numbers other than TE; times with fractions of a second; codes without a China
               customs equivalent (e.g. transport mode 6 multimodal or 8 inland water)
    CEB311     BusinessModelCode; Consignee/ID, Address/CityName, CountryCode, PostcodeID; goods item
               ItemRecordID, Description, Classification (HS code), TradeCountryCode, TariffQuantity,
               SupplementaryQuantity
    CEB303     as CEB311, and DiscountAmount, WithheldTaxAmount, PaymentAmount, Buyer, PaymentProvider,
               PaymentTransactionID, BatchID, Consignee; goods item Specification, OriginCountryCode
    CEB411     BusinessModelCode
    CEB511     BusinessModelCode; Consignee/ID, Address/CityName, CountryCode, CountrySubDivisionCode,
               PostcodeID
    CEB621     Buyer/ID; Consignee/Name, ID, Communication and Address other than Line;
               BorderTransportMeans/ID, RegistrationNationalityCode; goods item ItemDescription
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from gateway.errors import MappingFailed, UnsupportedMessage
from gateway.mapping.codes import COUNTRY, PACKAGING, TRANSPORT_MODE, CodeList
from gateway.mapping.records import (
    Amount,
    Code,
    DutyTaxFee,
    ExactLength,
    Field,
    FixedCurrency,
    FixedUnit,
    LocalDate,
    LocalDateTime,
    Loss,
    Measure,
    Table,
    Telephone,
    W,
    from_canonical,
    leftovers,
    raise_losses,
    to_canonical,
    working_copy,
)
from gateway.mapping.structure import sort_children, structure

CEB_NS = "http://www.chinaport.gov.cn/ceb"
_WCO_XSD = Path(__file__).resolve().parents[2] / "schemas" / "canonical" / "wco.xsd"
C = f"{{{CEB_NS}}}"
CHINA = dt.timezone(dt.timedelta(hours=8), "China")
MAX_RECORDS, MAX_LINES = 100, 99  # maxOccurs of the records and goods lines in the GACC XSD

APP_TYPE = CodeList("CEB appType", "EDIFACT 1225 message function", {"1": "9", "2": "5", "3": "3"})
APP_STATUS = CodeList("CEB appStatus", "gateway record status", {"1": "draft", "2": "declared"})
DIRECTION = CodeList("CEB orderType/ieFlag", "WCO declaration type (D013)", {"I": "IM", "E": "EX"})
ID_TYPE = CodeList("CEB identity document type", "gateway identity document type", {"1": "identity-card", "2": "other"})
TAX_STATUS = CodeList(
    "CEB tax bill status", "gateway tax bill status", {"1": "generated", "2": "summarised", "3": "void"}
)
DECLARATION_MODE = CodeList(
    "CEB statisticsFlag", "gateway export declaration mode", {"A": "simplified", "B": "summary"}
)
CHARGE_BASIS = CodeList("CEB fFlag/iFlag", "gateway charge basis", {"1": "rate", "2": "unit-price", "3": "total"})
SUMMARY_MODE = CodeList("CEB summaryFlag", "gateway summary mode", {"1": "consignor", "2": "consignor-producer"})
BUSINESS_MODEL = CodeList(
    "China customs supervision mode (CEB tradeMode)",
    "gateway CBEC business model",
    {code: code for code in ("9610", "1210", "1239", "9710", "9810")},
)

TIME = LocalDateTime(CHINA)
RETURN_TIME = LocalDateTime(CHINA, millis=True, shown="yyyyMMddHHmmssSSS")  # receipts, tax bills
HEADER = (
    Field("guid", "FunctionalReferenceID", ExactLength(36)),
    Field("appType", "FunctionCode", Code(APP_TYPE)),
    Field("appTime", "IssueDateTime", TIME),
    Field("appStatus", "StatusCode", Code(APP_STATUS)),
)
NOTE = Field("note", "AdditionalInformation/StatementDescription")


def _amount(source: str, target: str) -> Field:
    return Field(source, target, Amount("currency"))


def _person(prefix: str, part: str, name: str, id_type: str, id_number: str, telephone: str) -> tuple[Field, ...]:
    return (
        Field(name, f"{part}/Name"),
        *((Field(prefix, f"{part}/ID"),) if prefix else ()),
        Field(id_type, f"{part}/IdentityDocument/TypeCode", Code(ID_TYPE)),
        Field(id_number, f"{part}/IdentityDocument/ID"),
        Field(telephone, f"{part}/Communication", Telephone()),
    )


ORDER_HEAD = Table((
    *HEADER,
    Field("orderType", "TypeCode", Code(DIRECTION)),
    Field("orderNo", "OrderID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    _amount("goodsValue", "InvoiceAmount"),
    _amount("freight", "FreightChargeAmount"),
    _amount("discount", "DiscountAmount"),
    _amount("taxTotal", "WithheldTaxAmount"),
    _amount("acturalPaid", "PaymentAmount"),
    *_person("buyerRegNo", "Buyer", "buyerName", "buyerIdType", "buyerIdNumber", "buyerTelephone"),
    Field("payName", "PaymentProvider/Name"),
    Field("payCode", "PaymentProvider/ID"),
    Field("payTransactionId", "PaymentTransactionID"),
    Field("batchNumbers", "BatchID"),
    Field("consignee", "Consignee/Name"),
    Field("consigneeDistrict", "Consignee/Address/CountrySubDivisionCode"),
    Field("consigneeAddress", "Consignee/Address/Line"),
    Field("consigneeTelephone", "Consignee/Communication", Telephone()),
    NOTE,
))  # fmt: skip

ORDER_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("itemNo", "ItemID"),
    Field("itemName", "ItemName"),
    Field("gmodel", "Specification"),
    Field("itemDescribe", "ItemDescription"),
    Field("barCode", "BarcodeID"),
    Field("country", "OriginCountryCode", Code(COUNTRY)),
    Field("qty", "Quantity", Measure("unit")),
    _amount("price", "UnitPriceAmount"),
    _amount("totalPrice", "ItemChargeAmount"),
    NOTE,
))  # fmt: skip

PAYMENT_HEAD = Table((
    *HEADER,
    Field("payName", "PaymentProvider/Name"),
    Field("payCode", "PaymentProvider/ID"),
    Field("payTransactionId", "PaymentTransactionID"),
    Field("orderNo", "OrderID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    *_person("", "Payer", "payerName", "payerIdType", "payerIdNumber", "telephone"),
    _amount("amountPaid", "PaymentAmount"),
    Field("payTime", "PaymentDateTime", TIME),
    NOTE,
))  # fmt: skip

LOGISTICS_HEAD = Table((
    *HEADER,
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("billNo", "TransportDocumentID"),
    Field("orderNo", "OrderID"),
    _amount("freight", "FreightChargeAmount"),
    _amount("insuredFee", "InsuranceAmount"),
    Field("weight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("packNo", "TotalPackageQuantity"),
    Field("goodsInfo", "GoodsDescription"),
    Field("consignee", "Consignee/Name"),
    Field("consigneeAddress", "Consignee/Address/Line"),
    Field("consigneeTelephone", "Consignee/Communication", Telephone()),
    NOTE,
))  # fmt: skip

INVENTORY_HEAD = Table((
    *HEADER,
    Field("ieFlag", "TypeCode", Code(DIRECTION)),
    Field("tradeMode", "BusinessModelCode", Code(BUSINESS_MODEL)),
    Field("orderNo", "OrderID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("invtNo", "DeclarationID"),
    Field("assureCode", "Surety/ID"),
    Field("emsNo", "BondedAccountID"),
    Field("declTime", "AcceptanceDate", LocalDate()),
    Field("customsCode", "DeclarationOfficeID"),
    Field("portCode", "BorderOfficeID"),
    Field("ieDate", "BorderCrossingDate", LocalDate()),
    *_person("", "Buyer", "buyerName", "buyerIdType", "buyerIdNumber", "buyerTelephone"),
    Field("consigneeAddress", "Consignee/Address/Line"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("areaName", "WarehouseKeeper/Name"),
    Field("areaCode", "WarehouseKeeper/ID"),
    Field("trafNo", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("billNo", "TransportDocumentID"),
    Field("loctNo", "GoodsLocationID"),
    Field("licenseNo", "LicenceID"),
    Field("country", "ExportCountryCode", Code(COUNTRY)),
    _amount("freight", "FreightChargeAmount"),
    _amount("insuredFee", "InsuranceAmount"),
    Field("wrapType", "PackagingTypeCode", Code(PACKAGING, keep_national=True)),
    Field("packNo", "TotalPackageQuantity"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("netWeight", "TotalNetMassMeasure", FixedUnit("KGM")),
    NOTE,
))  # fmt: skip

INVENTORY_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("itemRecordNo", "ItemRecordID"),
    Field("itemNo", "ItemID"),
    Field("itemName", "ItemName"),
    Field("gname", "Description"),
    Field("gmodel", "Specification"),
    Field("barCode", "BarcodeID"),
    Field("gcode", "Classification/ID"),
    Field("country", "OriginCountryCode", Code(COUNTRY)),
    Field("tradeCountry", "TradeCountryCode", Code(COUNTRY)),
    Field("qty", "Quantity", Measure("unit")),
    Field("qty1", "TariffQuantity", Measure("unit1")),
    Field("qty2", "SupplementaryQuantity", Measure("unit2")),
    _amount("price", "UnitPriceAmount"),
    _amount("totalPrice", "ItemChargeAmount"),
    NOTE,
))  # fmt: skip


# CEB623 request to cancel a clearance list (撤销申请单, spec 3.11, table 3-41): the inventory's keys and why.
CANCEL = Table((
    *HEADER,
    Field("orderNo", "OrderID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("invtNo", "DeclarationID"),
    Field("customsCode", "DeclarationOfficeID"),
    *_person("", "Buyer", "buyerName", "buyerIdType", "buyerIdNumber", "buyerTelephone"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("reason", "Reason"),
    NOTE,
))  # fmt: skip

# CEB625 request to return goods of a released clearance list (退货申请单, spec 3.13, table 3-45): the head of a
# CEB623 (the list's keys, buyer, declarant, reason) and the goods lines returned.
REFUND_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("gname", "Description"),
    Field("gcode", "Classification/ID"),
    Field("qty", "Quantity", Measure("unit")),
    NOTE,
))  # fmt: skip

# CEB603 export clearance list (申报清单, spec 2.11, table 2-38): no buyer, consignee or surety; the producer,
# destination country and port, and how freight and insurance are given (each with its own currency).
EXPORT_INVENTORY_HEAD = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("orderNo", "OrderID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("invtNo", "DeclarationID"),
    Field("ieFlag", "TypeCode", Code(DIRECTION)),
    Field("portCode", "BorderOfficeID"),
    Field("ieDate", "BorderCrossingDate", LocalDate()),
    Field("statisticsFlag", "DeclarationModeCode", Code(DECLARATION_MODE)),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("ownerName", "Producer/Name"),
    Field("ownerCode", "Producer/ID"),
    Field("iacName", "WarehouseKeeper/Name"),
    Field("iacCode", "WarehouseKeeper/ID"),
    Field("emsNo", "BondedAccountID"),
    Field("tradeMode", "BusinessModelCode", Code(BUSINESS_MODEL)),
    Field("trafName", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("billNo", "TransportDocumentID"),
    Field("totalPackageNo", "ConsolidationID"),
    Field("loctNo", "GoodsLocationID"),
    Field("licenseNo", "LicenceID"),
    Field("country", "DestinationCountryCode", Code(COUNTRY)),
    Field("POD", "DestinationPortID"),
    Field("freight", "FreightChargeAmount", Amount("fCurrency")),
    Field("fFlag", "FreightChargeBasisCode", Code(CHARGE_BASIS)),
    Field("insuredFee", "InsuranceAmount", Amount("iCurrency")),
    Field("iFlag", "InsuranceBasisCode", Code(CHARGE_BASIS)),
    Field("wrapType", "PackagingTypeCode", Code(PACKAGING, keep_national=True)),
    Field("packNo", "TotalPackageQuantity"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("netWeight", "TotalNetMassMeasure", FixedUnit("KGM")),
    NOTE,
))  # fmt: skip
EXPORT_INVENTORY_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("itemRecordNo", "ItemRecordID"),
    Field("itemNo", "ItemID"),
    Field("itemName", "ItemName"),
    Field("gname", "Description"),
    Field("gmodel", "Specification"),
    Field("barCode", "BarcodeID"),
    Field("gcode", "Classification/ID"),
    Field("country", "DestinationCountryCode", Code(COUNTRY)),
    Field("qty", "Quantity", Measure("unit")),
    Field("qty1", "TariffQuantity", Measure("unit1")),
    Field("qty2", "SupplementaryQuantity", Measure("unit2")),
    _amount("price", "UnitPriceAmount"),
    _amount("totalPrice", "ItemChargeAmount"),
    NOTE,
))  # fmt: skip

# CEB505 export waybill (物流运单, spec 2.7, table 2-22): no order number and no consignee; the sender instead.
EXPORT_WAYBILL = Table((
    *HEADER,
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    _amount("freight", "FreightChargeAmount"),
    _amount("insuredFee", "InsuranceAmount"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("packNo", "TotalPackageQuantity"),
    Field("goodsInfo", "GoodsDescription"),
    Field("ebcName", "Consignor/Name"),
    Field("ebcCode", "Consignor/ID"),
    Field("ebcTelephone", "Consignor/Communication", Telephone()),
    NOTE,
))  # fmt: skip

# CEB403 payment receipt of an export order (收款单, spec 2.5, table 2-14): the e-commerce enterprise's money in.
PAYMENT_RECEIPT = Table((
    *HEADER,
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("orderNo", "OrderID"),
    Field("payName", "PaymentProvider/Name"),
    Field("payCode", "PaymentProvider/ID"),
    Field("payNo", "PaymentTransactionID"),
    _amount("charge", "PaymentAmount"),
    Field("accountingDate", "PaymentDateTime", TIME),
    NOTE,
))  # fmt: skip

# CEB605 request to cancel an export clearance list (撤销申请单, spec 2.13, table 2-44).
EXPORT_CANCEL = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("invtNo", "DeclarationID"),
    Field("reason", "Reason"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    NOTE,
))  # fmt: skip

# CEB507 arrival, CEB607 master/house list, CEB509 departure of export parcels (运抵单, 清单总分单, 离境单; spec
# 2.8, 2.14, 2.9): a cargo report each, its parcels as Parcel lines; split reports number their messages.
_REPORT_TAIL = (
    Field("msgCount", "MessageCount"),
    Field("msgSeqNo", "MessageSequenceNumeric"),
    NOTE,
)
ARRIVAL = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("operatorName", "WarehouseKeeper/Name"),
    Field("operatorCode", "WarehouseKeeper/ID"),
    Field("loctNo", "GoodsLocationID"),
    Field("ieFlag", "DirectionCode", Code(DIRECTION)),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("billNo", "TransportDocumentID"),
    Field("domesticTrafNo", "DomesticTransportMeansID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    *_REPORT_TAIL,
))  # fmt: skip
CONSIGNMENT_LIST = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("loctNo", "GoodsLocationID"),
    Field("trafName", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("billNo", "TransportDocumentID"),
    Field("domesticTrafNo", "DomesticTransportMeansID"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    *_REPORT_TAIL,
))  # fmt: skip
DEPARTURE = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("trafName", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("billNo", "TransportDocumentID"),
    Field("leaveTime", "DepartureDateTime", TIME),
    *_REPORT_TAIL,
))  # fmt: skip
PARCEL = Table((
    Field("gnum", "SequenceNumeric"),
    Field("totalPackageNo", "ConsolidationID"),
    Field("logisticsNo", "WaybillID"),
    Field("invtNo", "DeclarationID"),
    NOTE,
))  # fmt: skip

# CEB701 summary application (汇总申请单, spec 2.21, table 2-73): export lists to sum up into goods declarations.
SUMMARY = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("sumNo", "DeclarationID"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("declAgentName", "CustomsBroker/Name"),
    Field("declAgentCode", "CustomsBroker/ID"),
    Field("startTime", "StartDateTime", TIME),
    Field("endTime", "EndDateTime", TIME),
    Field("loctNo", "GoodsLocationID"),
    Field("summaryFlag", "SummaryModeCode", Code(SUMMARY_MODE)),
    Field("itemNameFlag", "ItemNameModeCode"),
    *_REPORT_TAIL,
))  # fmt: skip
SUMMARY_LINE = Table((Field("invtNo", "DeclarationID"),))

# CEB213 request to return exported goods (退货申请单, spec 2.17, table 2-58) and CEB215 tally of the returned parcel
# at the supervised site (理货明细单, spec 2.19, table 2-64).
EXPORT_REFUND = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("loctNo", "GoodsLocationID"),
    Field("ebpName", "Platform/Name"),
    Field("ebpCode", "Platform/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("coElNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("invtNo", "DeclarationID"),
    Field("tradeMode", "ReturnProcedureCode"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("billNo", "TransportDocumentID"),
    Field("ieFlag", "DirectionCode", Code(DIRECTION)),
    Field("trafName", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("portCode", "BorderOfficeID"),
    Field("reason", "Reason"),
    Field("country", "DispatchCountryCode", Code(COUNTRY)),
    NOTE,
))  # fmt: skip
EXPORT_REFUND_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("gname", "Description"),
    Field("gmodel", "Specification"),
    Field("gcode", "Classification/ID"),
    Field("qty", "Quantity", Measure("unit")),
    Field("qty1", "TariffQuantity", Measure("unit1")),
    Field("qty2", "SupplementaryQuantity", Measure("unit2")),
    NOTE,
))  # fmt: skip
RETURN_TALLY = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("operatorName", "WarehouseKeeper/Name"),
    Field("operatorCode", "WarehouseKeeper/ID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("invtNo", "DeclarationID"),
    Field("coElNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("billNo", "TransportDocumentID"),
    Field("ieFlag", "DirectionCode", Code(DIRECTION)),
    Field("trafName", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("location", "UnloadingLocation"),
    NOTE,
))  # fmt: skip

# CEB792 summary result (汇总结果单, spec 2.23, table 2-80), customs -> enterprise: each goods declaration customs
# generated from a summary application and the list lines it sums up (no BaseTransfer, no receipt).
SUMMARY_RESULT = Table((
    Field("guid", "FunctionalReferenceID", ExactLength(36)),
    Field("opDate", "IssueDateTime", RETURN_TIME),
    Field("customsCode", "DeclarationOfficeID"),
    Field("sumNo", "SummaryApplicationID"),
    Field("declSeqNo", "SummaryID"),
    Field("decTmpNo", "StoredDeclarationID"),
    Field("decPreNo", "PreEntryID"),
    Field("entryId", "DeclarationID"),
    Field("decState", "DeclarationStatusCode"),
    Field("agentName", "Declarant/Name"),
    Field("agentCode", "Declarant/ID"),
    Field("ebcName", "Seller/Name"),
    Field("ebcCode", "Seller/ID"),
    Field("declAgentName", "CustomsBroker/Name"),
    Field("declAgentCode", "CustomsBroker/ID"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("netWeight", "TotalNetMassMeasure", FixedUnit("KGM")),
    *_REPORT_TAIL,
))  # fmt: skip
SUMMARY_RESULT_LINE = Table((
    Field("gseqno", "SequenceNumeric"),
    Field("invtNo", "DeclarationID"),
    Field("logisticsNo", "WaybillID"),
    Field("gnum", "ItemSequenceNumeric"),
    Field("gcode", "Classification/ID"),
))  # fmt: skip

# CEB513 waybill status (运单状态, spec 3.7, table 3-24): the carrier reports a parcel signed for (logisticsStatus S).
WAYBILL_STATUS = Table((
    *HEADER,
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("logisticsNo", "WaybillID"),
    Field("logisticsStatus", "DeliveryStatusCode"),
    Field("logisticsTime", "StatusDateTime", TIME),
    NOTE,
))  # fmt: skip

# CEB711 warehouse entry list (入库明细单, spec 3.15, table 3-52): the operator of a supervised site lists the
# parcels (waybills) of one arrival that entered the site.
ENTRY_HEAD = Table((
    *HEADER,
    Field("customsCode", "DeclarationOfficeID"),
    Field("copNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    Field("rkdNo", "DeclarationID"),
    Field("operatorName", "WarehouseKeeper/Name"),
    Field("operatorCode", "WarehouseKeeper/ID"),
    Field("ieFlag", "DirectionCode", Code(DIRECTION)),
    Field("trafNo", "BorderTransportMeans/Name"),
    Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True)),
    Field("voyageNo", "BorderTransportMeans/JourneyID"),
    Field("billNo", "TransportDocumentID"),
    Field("logisticsName", "Carrier/Name"),
    Field("logisticsCode", "Carrier/ID"),
    Field("unloadLocation", "UnloadingLocation"),
    NOTE,
))  # fmt: skip
ENTRY_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("logisticsNo", "WaybillID"),
    NOTE,
))  # fmt: skip

# CEB816 electronic tax bill (电子税单, spec 3.17, table 3-59) and CEB818 tax bill status (3.18, table 3-62):
# customs -> the trader's side. Duties on WCO DutyTaxFee (50A): customs duty, VAT and consumption tax as
# UN/EDIFACT 5153 duty/tax/fee types CUD, VAT and EXC (China's 消费税 is an excise), each assessed amount a
# Payment/TaxAssessedAmount (120) in CNY (the bill has no currency field: amounts in RMB).
_DUTIES = (("customsTax", "CUD"), ("valueAddedTax", "VAT"), ("consumptionTax", "EXC"))
TAX_HEAD = Table((
    Field("guid", "FunctionalReferenceID", ExactLength(36)),
    Field("returnTime", "IssueDateTime", RETURN_TIME),
    Field("invtNo", "DeclarationID"),
    Field("taxNo", "TaxBillID"),
    Field("status", "StatusCode", Code(TAX_STATUS)),
    Field("customsCode", "DeclarationOfficeID"),
    Field("ebcCode", "Seller/ID"),
    Field("logisticsCode", "Carrier/ID"),
    Field("agentCode", "Declarant/ID"),
    Field("assureCode", "Surety/ID"),
    Field("entDutyNo", "Payment/ReferenceID"),
    *(Field(name, f"DutyTaxFee[TypeCode='{code}']", DutyTaxFee(code)) for name, code in _DUTIES),
    NOTE,
))  # fmt: skip
TAX_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("gcode", "Classification/ID"),
    Field("taxPrice", "AdValoremTaxBaseAmount", FixedCurrency("CNY")),
    *(Field(name, f"DutyTaxFee[TypeCode='{code}']", DutyTaxFee(code)) for name, code in _DUTIES),
))  # fmt: skip


def _sequence(spec: str) -> tuple[tuple[str, bool], ...]:
    """``"guid appType note?"`` -> (("guid", True), ("appType", True), ("note", False))."""
    return tuple((name.rstrip("?"), not name.endswith("?")) for name in spec.split())


@dataclass(frozen=True)
class Kind:
    """One CEB business message and how it maps."""

    root: str  # CEB311Message
    schema: str  # the GACC XSD file under schemas/ceb
    message_type: str  # order
    record: str  # Order: the CEB element wrapping one record
    head: str  # OrderHead
    head_fields: tuple[tuple[str, bool], ...]  # CEB sequence: (name, required)
    head_table: Table
    lines: str | None  # OrderList
    line_fields: tuple[tuple[str, bool], ...]
    line_table: Table | None
    payload: str  # canonical payload element: Order
    canonical_record: str  # ElectronicOrder
    direction: str  # IM or EX: the canonical TypeCode this message carries
    receipt: str | None  # CEB312Message; None: the format has no receipt for it (answered with CEB900)
    receipt_record: str | None  # OrderReturn
    receipt_fields: tuple[tuple[str, bool], ...]
    time_field: str = "appTime"  # when the sender made the record (returnTime in the customs' messages)
    transfer: bool = True  # the message carries a BaseTransfer (the customs' tax messages do not)
    max_records: int | None = MAX_RECORDS  # None: unbounded
    canonical_line: str = "GoodsItem"  # the canonical element of one line (EnteredWaybill for a CEB711)
    max_lines: int | None = MAX_LINES  # lines per record; None: unbounded (CEB711 DeliveryList)
    lines_required: bool = True  # False: a record may have no lines (CEB507 ArrivalList)

    @property
    def receipt_keys(self) -> tuple[str, ...]:
        """The head fields its receipt echoes back to identify a record."""
        return tuple(n for n, _ in self.receipt_fields if n not in ("returnStatus", "returnTime", "returnInfo"))


IMPORT, EXPORT = "ceb_import_business_202205.xsd", "ceb_export_business_202205.xsd"

# Field sequences as in the GACC XSDs (kept equal by tests/formats/test_ceb.py).
_ORDER_HEAD = _sequence(
    "guid appType appTime appStatus orderType orderNo ebpCode ebpName ebcCode ebcName goodsValue freight "
    "discount taxTotal acturalPaid currency buyerRegNo buyerName buyerTelephone buyerIdType buyerIdNumber "
    "payCode? payName? payTransactionId? batchNumbers? consignee consigneeTelephone consigneeAddress "
    "consigneeDistrict? note?"
)
_ORDER_LIST = _sequence(
    "gnum itemNo? itemName gmodel itemDescribe? barCode? unit qty price totalPrice currency country note?"
)
_ORDER_RETURN = _sequence("guid ebpCode ebcCode orderNo returnStatus returnTime returnInfo")
_EXPORT_ORDER_HEAD = _sequence(
    "guid appType appTime appStatus orderType orderNo ebpCode ebpName ebcCode ebcName goodsValue freight currency note?"
)
_EXPORT_ORDER_LIST = _sequence("gnum itemNo itemName itemDescribe? barCode? unit currency qty price totalPrice note?")
_PAYMENT_HEAD = _sequence(
    "guid appType appTime appStatus payCode payName payTransactionId orderNo ebpCode ebpName payerIdType "
    "payerIdNumber payerName telephone? amountPaid currency payTime note?"
)
_PAYMENT_RETURN = _sequence("guid payCode payTransactionId returnStatus returnTime returnInfo")
_LOGISTICS_HEAD = _sequence(
    "guid appType appTime appStatus logisticsCode logisticsName logisticsNo billNo? orderNo freight? "
    "insuredFee? currency weight packNo goodsInfo? consignee consigneeAddress consigneeTelephone note?"
)
_LOGISTICS_RETURN = _sequence("guid logisticsCode logisticsNo returnStatus returnTime returnInfo")
_INVENTORY_HEAD = _sequence(
    "guid appType appTime appStatus orderNo ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
    "logisticsName copNo? preNo? assureCode emsNo? invtNo? ieFlag declTime customsCode portCode ieDate? "
    "buyerIdType buyerIdNumber buyerName buyerTelephone consigneeAddress agentCode agentName areaCode? "
    "areaName? tradeMode trafMode trafNo? voyageNo? billNo? loctNo? licenseNo? country freight insuredFee "
    "currency wrapType? packNo grossWeight netWeight note?"
)
_INVENTORY_LIST = _sequence(
    "gnum itemRecordNo? itemNo? itemName? gcode gname gmodel barCode? country tradeCountry? currency qty "
    "unit qty1 unit1 qty2? unit2? price totalPrice note?"
)
_TAX_HEAD = _sequence(
    "guid returnTime invtNo taxNo customsTax valueAddedTax consumptionTax status entDutyNo? note? assureCode? "
    "ebcCode? logisticsCode? agentCode? customsCode?"
)
_TAX_LIST = _sequence("gnum gcode taxPrice customsTax valueAddedTax consumptionTax")
_TAX_STATUS = _sequence("guid returnTime invtNo taxNo status entDutyNo? assureCode?")
_CANCEL = _sequence(
    "guid appType appTime appStatus customsCode orderNo ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
    "logisticsName copNo? preNo? invtNo buyerIdType buyerIdNumber buyerName buyerTelephone agentCode agentName "
    "reason note?"
)
_REFUND_LIST = _sequence("gnum gcode gname qty unit note?")
_EXPORT_INVENTORY_HEAD = _sequence(
    "guid appType appTime appStatus customsCode ebpCode ebpName orderNo logisticsCode logisticsName logisticsNo "
    "copNo preNo? invtNo? ieFlag portCode ieDate statisticsFlag agentCode agentName ebcCode ebcName ownerCode "
    "ownerName iacCode? iacName? emsNo? tradeMode trafMode trafName? voyageNo? billNo? totalPackageNo? loctNo? "
    "licenseNo? country POD freight fCurrency fFlag insuredFee iCurrency iFlag wrapType packNo grossWeight "
    "netWeight note?"
)
_EXPORT_INVENTORY_LIST = _sequence(
    "gnum itemNo itemRecordNo? itemName? gcode gname gmodel barCode country currency qty qty1 qty2? unit unit1 "
    "unit2? price totalPrice note?"
)
_EXPORT_WAYBILL = _sequence(
    "guid appType appTime appStatus logisticsCode logisticsName logisticsNo freight insuredFee currency "
    "grossWeight packNo goodsInfo ebcCode? ebcName? ebcTelephone? note?"
)
_PAYMENT_RECEIPT = _sequence(
    "guid appType appTime appStatus ebpCode ebpName ebcCode ebcName orderNo payCode? payName payNo? charge "
    "currency accountingDate note?"
)
_PAYMENT_RECEIPT_RETURN = _sequence("guid ebcCode orderNo payNo? returnStatus returnTime returnInfo")
_EXPORT_CANCEL = _sequence(
    "guid appType appTime appStatus customsCode copNo preNo? invtNo reason agentCode agentName ebcCode ebcName note?"
)
_EXPORT_CANCEL_RETURN = _sequence("guid agentCode copNo preNo invtNo returnStatus returnTime returnInfo")
_ARRIVAL_HEAD = _sequence(
    "guid appType appTime appStatus customsCode copNo preNo? operatorCode operatorName loctNo? ieFlag trafMode "
    "billNo? domesticTrafNo logisticsCode logisticsName msgCount msgSeqNo note?"
)
_ARRIVAL_LIST = _sequence("gnum logisticsNo totalPackageNo? note?")
_ARRIVAL_RETURN = _sequence(
    "guid operatorCode logisticsCode preNo copNo billNo msgSeqNo returnStatus returnTime returnInfo"
)
_CONSIGNMENT_HEAD = _sequence(
    "guid appType appTime appStatus customsCode copNo preNo? agentCode agentName loctNo? trafMode trafName "
    "voyageNo billNo domesticTrafNo? grossWeight logisticsCode logisticsName msgCount msgSeqNo note?"
)
_CONSIGNMENT_LIST = _sequence("gnum totalPackageNo? logisticsNo invtNo? note?")
_CONSIGNMENT_RETURN = _sequence(
    "guid agentCode logisticsCode copNo preNo billNo msgSeqNo returnStatus returnTime returnInfo"
)
_DEPARTURE_HEAD = _sequence(
    "guid appType appTime appStatus customsCode copNo preNo? logisticsCode logisticsName trafMode trafName? "
    "voyageNo? billNo? leaveTime msgCount msgSeqNo note?"
)
_DEPARTURE_LIST = _sequence("gnum totalPackageNo? logisticsNo note?")
_DEPARTURE_RETURN = _sequence("guid logisticsCode copNo preNo msgSeqNo returnStatus returnTime returnInfo")
_SUMMARY_HEAD = _sequence(
    "guid appType appTime appStatus customsCode copNo preNo? sumNo? agentCode agentName ebcCode ebcName "
    "declAgentCode declAgentName startTime? endTime? loctNo? summaryFlag itemNameFlag msgCount msgSeqNo note?"
)
_SUMMARY_LIST = _sequence("invtNo")
_SUMMARY_RETURN = _sequence("guid agentCode ebcCode copNo preNo sumNo? msgSeqNo returnStatus returnTime returnInfo")
_EXPORT_REFUND_HEAD = _sequence(
    "guid appType appTime appStatus customsCode loctNo? ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
    "logisticsName coElNo preNo? invtNo tradeMode? agentCode agentName billNo ieFlag trafMode trafName portCode "
    "reason country voyageNo note?"
)
_EXPORT_REFUND_LIST = _sequence("gnum gcode gname gmodel qty qty1 unit unit1 qty2? unit2? note?")
_EXPORT_REFUND_RETURN = _sequence(
    "guid ebpCode? ebcCode? agentCode coElNo preNo? invtNo returnStatus returnTime returnInfo"
)
_RETURN_TALLY = _sequence(
    "guid appType appTime appStatus customsCode operatorCode operatorName logisticsCode logisticsName logisticsNo "
    "invtNo? coElNo preNo? billNo ieFlag trafMode trafName voyageNo location? note?"
)
_RETURN_TALLY_RETURN = _sequence(
    "guid operatorCode logisticsCode logisticsNo coElNo preNo? returnStatus returnTime returnInfo"
)
_SUMMARY_RESULT_HEAD = _sequence(
    "guid customsCode sumNo opDate declSeqNo decTmpNo? decPreNo? entryId? decState agentCode agentName ebcCode "
    "ebcName declAgentCode declAgentName grossWeight netWeight msgCount msgSeqNo note?"
)
_SUMMARY_RESULT_LIST = _sequence("invtNo logisticsNo gseqno gnum gcode")
_EXPORT_INVENTORY_RETURN = _sequence(
    "guid agentCode copNo preNo invtNo ebcCode ebpCode orderNo statisticsFlag returnStatus returnTime returnInfo"
)
_WAYBILL_STATUS = _sequence(
    "guid appType appTime appStatus logisticsCode logisticsName logisticsNo logisticsStatus logisticsTime note?"
)
_WAYBILL_STATUS_RETURN = _sequence("guid logisticsCode logisticsNo logisticsStatus returnStatus returnTime returnInfo")
_ENTRY_HEAD = _sequence(
    "guid appType appTime appStatus customsCode copNo? preNo? rkdNo? operatorCode operatorName ieFlag trafMode "
    "trafNo voyageNo billNo logisticsCode logisticsName unloadLocation? note?"
)
_ENTRY_LIST = _sequence("gnum logisticsNo note?")
_ENTRY_RETURN = _sequence("guid customsCode? operatorCode? copNo? preNo? rkdNo? returnStatus returnTime returnInfo")
_CANCEL_RETURN = _sequence(
    "guid customsCode? agentCode? ebpCode? ebcCode? copNo preNo invtNo? returnStatus returnTime returnInfo"
)
_INVENTORY_RETURN = _sequence(
    "guid customsCode? ebpCode? ebcCode? agentCode? copNo preNo invtNo? returnStatus returnTime returnInfo"
)


FieldSequence = Sequence[tuple[str, bool]]


def _order(root: str, schema: str, direction: str, head: FieldSequence, lines: FieldSequence, receipt: str) -> Kind:
    return Kind(
        root=root, schema=schema, message_type="order", record="Order",
        head="OrderHead", head_fields=tuple(head), head_table=ORDER_HEAD,
        lines="OrderList", line_fields=tuple(lines), line_table=ORDER_LINE,
        payload="Order", canonical_record="ElectronicOrder", direction=direction,
        receipt=receipt, receipt_record="OrderReturn", receipt_fields=_ORDER_RETURN,
    )  # fmt: skip


KINDS: Mapping[str, Kind] = {
    kind.root: kind
    for kind in (
        _order("CEB311Message", IMPORT, "IM", _ORDER_HEAD, _ORDER_LIST, "CEB312Message"),
        _order("CEB303Message", EXPORT, "EX", _EXPORT_ORDER_HEAD, _EXPORT_ORDER_LIST, "CEB304Message"),
        Kind(
            root="CEB411Message", schema=IMPORT, message_type="payment", record="Payment",
            head="PaymentHead", head_fields=_PAYMENT_HEAD, head_table=PAYMENT_HEAD,
            lines=None, line_fields=(), line_table=None,
            payload="Payment", canonical_record="PaymentVoucher", direction="IM",
            receipt="CEB412Message", receipt_record="PaymentReturn", receipt_fields=_PAYMENT_RETURN,
        ),
        Kind(
            root="CEB511Message", schema=IMPORT, message_type="logistics", record="Logistics",
            head="LogisticsHead", head_fields=_LOGISTICS_HEAD, head_table=LOGISTICS_HEAD,
            lines=None, line_fields=(), line_table=None,
            payload="Logistics", canonical_record="Waybill", direction="IM",
            receipt="CEB512Message", receipt_record="LogisticsReturn", receipt_fields=_LOGISTICS_RETURN,
        ),
        Kind(
            root="CEB621Message", schema=IMPORT, message_type="inventory", record="Inventory",
            head="InventoryHead", head_fields=_INVENTORY_HEAD, head_table=INVENTORY_HEAD,
            lines="InventoryList", line_fields=_INVENTORY_LIST, line_table=INVENTORY_LINE,
            payload="Inventory", canonical_record="ClearanceList", direction="IM",
            receipt="CEB622Message", receipt_record="InventoryReturn", receipt_fields=_INVENTORY_RETURN,
        ),
        Kind(
            root="CEB623Message", schema=IMPORT, message_type="inventory-cancellation", record="InvtCancel",
            head="InvtCancel", head_fields=_CANCEL, head_table=CANCEL,
            lines=None, line_fields=(), line_table=None,
            payload="InventoryCancellation", canonical_record="CancellationRequest", direction="IM",
            receipt="CEB624Message", receipt_record="InvtCancelReturn", receipt_fields=_CANCEL_RETURN,
        ),
        Kind(
            root="CEB625Message", schema=IMPORT, message_type="inventory-return", record="InvtRefund",
            head="InvtRefundHead", head_fields=_CANCEL, head_table=CANCEL,
            lines="InvtRefundList", line_fields=_REFUND_LIST, line_table=REFUND_LINE,
            payload="InventoryReturn", canonical_record="ReturnRequest", direction="IM",
            receipt="CEB626Message", receipt_record="InvtRefundReturn", receipt_fields=_CANCEL_RETURN,
        ),
        Kind(
            root="CEB603Message", schema=EXPORT, message_type="inventory", record="Inventory",
            head="InventoryHead", head_fields=_EXPORT_INVENTORY_HEAD, head_table=EXPORT_INVENTORY_HEAD,
            lines="InventoryList", line_fields=_EXPORT_INVENTORY_LIST, line_table=EXPORT_INVENTORY_LINE,
            payload="Inventory", canonical_record="ExportClearanceList", direction="EX",
            receipt="CEB604Message", receipt_record="InventoryReturn", receipt_fields=_EXPORT_INVENTORY_RETURN,
        ),
        Kind(
            root="CEB605Message", schema=EXPORT, message_type="inventory-cancellation", record="InvtCancel",
            head="InvtCancel", head_fields=_EXPORT_CANCEL, head_table=EXPORT_CANCEL,
            lines=None, line_fields=(), line_table=None,
            payload="InventoryCancellation", canonical_record="ExportCancellationRequest", direction="EX",
            receipt="CEB606Message", receipt_record="InvtCancelReturn", receipt_fields=_EXPORT_CANCEL_RETURN,
        ),
        Kind(
            root="CEB505Message", schema=EXPORT, message_type="logistics", record="Logistics",
            head="Logistics", head_fields=_EXPORT_WAYBILL, head_table=EXPORT_WAYBILL,
            lines=None, line_fields=(), line_table=None,
            payload="Logistics", canonical_record="ExportWaybill", direction="EX",
            receipt="CEB506Message", receipt_record="LogisticsReturn", receipt_fields=_LOGISTICS_RETURN,
        ),
        Kind(
            root="CEB403Message", schema=EXPORT, message_type="payment", record="Receipts",
            head="Receipts", head_fields=_PAYMENT_RECEIPT, head_table=PAYMENT_RECEIPT,
            lines=None, line_fields=(), line_table=None,
            payload="Payment", canonical_record="PaymentReceipt", direction="EX",
            receipt="CEB404Message", receipt_record="ReceiptsReturn", receipt_fields=_PAYMENT_RECEIPT_RETURN,
        ),
        *(
            Kind(
                root=root, schema=EXPORT, message_type="cargo-report", record=record,
                head=f"{record}Head", head_fields=head_fields, head_table=table,
                lines=f"{record}List", line_fields=line_fields, line_table=PARCEL,
                payload="CargoReport", canonical_record=canonical, direction="EX",
                receipt=receipt, receipt_record=f"{record}Return", receipt_fields=receipt_fields,
                canonical_line="Parcel", max_lines=None, lines_required=root != "CEB507Message",
            )
            for root, record, canonical, table, head_fields, line_fields, receipt, receipt_fields in (
                ("CEB507Message", "Arrival", "ArrivalReport", ARRIVAL, _ARRIVAL_HEAD, _ARRIVAL_LIST,
                 "CEB508Message", _ARRIVAL_RETURN),
                ("CEB607Message", "WayBill", "ConsignmentList", CONSIGNMENT_LIST, _CONSIGNMENT_HEAD,
                 _CONSIGNMENT_LIST, "CEB608Message", _CONSIGNMENT_RETURN),
                ("CEB509Message", "Departure", "DepartureReport", DEPARTURE, _DEPARTURE_HEAD, _DEPARTURE_LIST,
                 "CEB510Message", _DEPARTURE_RETURN),
            )
        ),
        Kind(
            root="CEB701Message", schema=EXPORT, message_type="summary-application", record="SummaryApply",
            head="SummaryApplyHead", head_fields=_SUMMARY_HEAD, head_table=SUMMARY,
            lines="SummaryApplyList", line_fields=_SUMMARY_LIST, line_table=SUMMARY_LINE,
            payload="SummaryApplication", canonical_record="SummaryRequest", direction="EX",
            receipt="CEB702Message", receipt_record="SummaryReturn", receipt_fields=_SUMMARY_RETURN,
            canonical_line="SummarisedClearanceList", max_lines=None, lines_required=False,
        ),
        Kind(
            root="CEB213Message", schema=EXPORT, message_type="inventory-return", record="InvtRefund",
            head="InvtRefundHead", head_fields=_EXPORT_REFUND_HEAD, head_table=EXPORT_REFUND,
            lines="InvtRefundList", line_fields=_EXPORT_REFUND_LIST, line_table=EXPORT_REFUND_LINE,
            payload="InventoryReturn", canonical_record="ExportReturnRequest", direction="EX",
            receipt="CEB214Message", receipt_record="RefundReturn", receipt_fields=_EXPORT_REFUND_RETURN,
        ),
        Kind(
            root="CEB215Message", schema=EXPORT, message_type="cargo-report", record="InvtRefundDetail",
            head="InvtRefundDetail", head_fields=_RETURN_TALLY, head_table=RETURN_TALLY,
            lines=None, line_fields=(), line_table=None,
            payload="CargoReport", canonical_record="ReturnTallyReport", direction="EX",
            receipt="CEB216Message", receipt_record="InvtRefundDetailReturn", receipt_fields=_RETURN_TALLY_RETURN,
        ),
        Kind(
            root="CEB792Message", schema=EXPORT, message_type="summary-result", record="SummaryResult",
            head="SummaryResultHead", head_fields=_SUMMARY_RESULT_HEAD, head_table=SUMMARY_RESULT,
            lines="SummaryResultList", line_fields=_SUMMARY_RESULT_LIST, line_table=SUMMARY_RESULT_LINE,
            payload="SummaryResult", canonical_record="SummaryDeclaration", direction="EX",
            receipt=None, receipt_record=None, receipt_fields=(),
            time_field="opDate", transfer=False, canonical_line="SummarisedItem", max_lines=None,
            lines_required=False,
        ),
        Kind(
            root="CEB513Message", schema=IMPORT, message_type="logistics-status", record="LogisticsStatus",
            head="LogisticsStatus", head_fields=_WAYBILL_STATUS, head_table=WAYBILL_STATUS,
            lines=None, line_fields=(), line_table=None,
            payload="LogisticsStatus", canonical_record="WaybillStatus", direction="IM",
            receipt="CEB514Message", receipt_record="LogisticsStatusReturn", receipt_fields=_WAYBILL_STATUS_RETURN,
        ),
        Kind(
            root="CEB711Message", schema=IMPORT, message_type="warehouse-entry", record="Delivery",
            head="DeliveryHead", head_fields=_ENTRY_HEAD, head_table=ENTRY_HEAD,
            lines="DeliveryList", line_fields=_ENTRY_LIST, line_table=ENTRY_LINE,
            payload="WarehouseEntry", canonical_record="EntryList", direction="IM",
            receipt="CEB712Message", receipt_record="DeliveryReturn", receipt_fields=_ENTRY_RETURN,
            max_records=1, canonical_line="EnteredWaybill", max_lines=None,
        ),
        Kind(
            root="CEB816Message", schema=IMPORT, message_type="tax-assessment", record="Tax",
            head="TaxHeadRd", head_fields=_TAX_HEAD, head_table=TAX_HEAD,
            lines="TaxListRd", line_fields=_TAX_LIST, line_table=TAX_LINE,
            payload="TaxAssessment", canonical_record="TaxBill", direction="IM",
            receipt=None, receipt_record=None, receipt_fields=(),
            time_field="returnTime", transfer=False, max_records=None,
        ),
        Kind(
            root="CEB818Message", schema=IMPORT, message_type="tax-payment", record="Tax",
            head="TaxHeadStatus", head_fields=_TAX_STATUS, head_table=TAX_HEAD,
            lines=None, line_fields=(), line_table=None,
            payload="TaxPayment", canonical_record="TaxBill", direction="IM",
            receipt=None, receipt_record=None, receipt_fields=(),
            time_field="returnTime", transfer=False, max_records=None,
        ),
    )
}  # fmt: skip

# What the spec prescribes for a required CEB field the canonical record may leave out.
DEFAULTS: Mapping[str, str] = {
    "currency": "142",  # "限定为人民币, 填写142" (tables 3-3, 3-9, 3-27, 3-31)
    "freight": "0",  # "无则填写0"
    "discount": "0",
    "taxTotal": "0",
}


def guid_for(value: str) -> str:
    """A 36-character upper-case id, as CEB wants one: a UUID as it is, else a UUID derived from the value."""
    if len(value) == 36:
        return value.upper()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:customs-gateway:{value}")).upper()


def kind_of(root: etree._Element) -> Kind:
    """The kind of a CEB message from its root element, or ``UnsupportedMessage`` naming what is supported."""
    qname = etree.QName(root)
    kind = KINDS.get(qname.localname) if qname.namespace == CEB_NS else None
    if kind is None:
        raise UnsupportedMessage(
            f"root element {qname.localname!r} in namespace {qname.namespace!r} is not a CEB message "
            f"the gateway maps; supported: {', '.join(KINDS)} in {CEB_NS}",
            pointer="/",
        )
    return kind


def fields_of(element: etree._Element) -> dict[str, str]:
    """A flat CEB record (a head or a goods line): field name -> stripped text."""
    # Children of a schema-valid CEB record are all in the CEB namespace: cut the "{ns}" prefix off the tag.
    return {
        c.tag[len(C) :] if c.tag.startswith(C) else c.tag: (c.text or "").strip()
        for c in element
        if isinstance(c.tag, str)
    }


def records(root: etree._Element, kind: Kind) -> list[etree._Element]:
    found: list[etree._Element] = root.findall(C + kind.record)
    return found


def heads(root: etree._Element, kind: Kind) -> list[dict[str, str]]:
    return [fields_of(head) for r in records(root, kind) if (head := head_of(r, kind)) is not None]


def head_of(record: etree._Element, kind: Kind) -> etree._Element | None:
    """The head fields of a record: its head element, or the record itself when flat (CEB623 InvtCancel)."""
    return record if kind.head == kind.record else record.find(C + kind.head)


# The key a message opens (what follow-ups name) and the key it follows, from its first record: the same
# order / payment / waybill / clearance list / tax bill across its original, modifications and cancellation.
_BUSINESS_KEYS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "CEB311Message": ("order", ("ebpCode", "orderNo")),
    "CEB303Message": ("order", ("ebpCode", "orderNo")),
    "CEB411Message": ("payment", ("payCode", "payTransactionId")),
    "CEB511Message": ("waybill", ("logisticsCode", "logisticsNo")),
    "CEB621Message": ("inventory", ("ebpCode", "orderNo")),
    "CEB603Message": ("export-inventory", ("agentCode", "copNo")),
    "CEB605Message": ("export-inventory", ("agentCode", "copNo")),
    "CEB505Message": ("export-waybill", ("logisticsCode", "logisticsNo")),
    "CEB403Message": ("payment-receipt", ("ebcCode", "orderNo")),
    "CEB507Message": ("export-arrival", ("operatorCode", "copNo")),
    "CEB607Message": ("export-consignment-list", ("agentCode", "copNo")),
    "CEB509Message": ("export-departure", ("logisticsCode", "copNo")),
    "CEB701Message": ("summary-application", ("agentCode", "copNo")),
    "CEB213Message": ("export-return", ("agentCode", "coElNo")),
    "CEB215Message": ("export-return-tally", ("operatorCode", "coElNo")),
    "CEB623Message": ("inventory", ("ebpCode", "orderNo")),
    "CEB625Message": ("inventory", ("ebpCode", "orderNo")),
    "CEB513Message": ("waybill", ("logisticsCode", "logisticsNo")),
    "CEB711Message": ("warehouse-entry", ("operatorCode", "copNo")),
    "CEB816Message": ("tax", ("taxNo",)),
    "CEB818Message": ("tax", ("taxNo",)),
}
_ALWAYS_FOLLOW = frozenset({"CEB513Message", "CEB605Message", "CEB623Message", "CEB625Message", "CEB818Message"})


def business_key(kind: Kind, head: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the key this record opens, the key it follows): an original opens, a modification (appType 2), a
    cancellation (CEB623) and a tax bill status (CEB818) follow."""
    found = _BUSINESS_KEYS.get(kind.root)
    if found is None or not all(head.get(name) for name in found[1]):
        return None, None
    key = ":".join((found[0], *(head[name] for name in found[1])))
    if kind.root in _ALWAYS_FOLLOW or head.get("appType") == "2":
        return None, key
    return key, None


def issued(heads: Sequence[Mapping[str, str]], time_field: str = "appTime") -> dt.datetime | None:
    """When the message was made: the latest appTime (or returnTime) of its records (China time), None if none
    is readable. Milliseconds of a returnTime are left out: the replay window counts in seconds."""
    times = []
    for head in heads:
        try:
            stamp = head.get(time_field, "")[:14]
            times.append(dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=CHINA))
        except ValueError:
            continue
    return max(times) if times else None


# --- CEB -> canonical -------------------------------------------------------------------------------


def to_canonical_payload(root: etree._Element, kind: Kind) -> etree._Element:
    """The canonical payload (e.g. ``wco:Order``) of a valid CEB message."""
    payload = etree.Element(W + kind.payload, nsmap={None: W[1:-1]})
    for index, record in enumerate(records(root, kind), 1):
        base = f"/{kind.root}/{kind.record}[{index}]"
        out = etree.SubElement(payload, W + kind.canonical_record)
        head = head_of(record, kind)
        assert head is not None  # schema-valid
        where = base if kind.head == kind.record else f"{base}/{kind.head}"
        to_canonical(fields_of(head), kind.head_table, out, _under(where))
        if kind.lines and kind.line_table:
            for number, line in enumerate(record.findall(C + kind.lines), 1):
                item = etree.SubElement(out, W + kind.canonical_line)
                to_canonical(fields_of(line), kind.line_table, item, _under(f"{base}/{kind.lines}[{number}]"))
    return payload


def _under(prefix: str) -> Callable[[str], str]:
    """The pointer of a CEB field of one head or line, for error messages."""
    return lambda name: f"{prefix}/{name}"


# --- canonical -> CEB -------------------------------------------------------------------------------

RECEIPT_STATUS = Table((
    Field("returnStatus", "ProcessingStatusCode"),
    Field("returnTime", "StatusDateTime", RETURN_TIME),
    Field("returnInfo", "StatusDescription"),
))  # fmt: skip
RECEIPTS: Mapping[str, Kind] = {kind.receipt: kind for kind in KINDS.values() if kind.receipt}


def answered_record(reference: etree._Element, pointer: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """A canonical Receipt/ReferencedRecord as the CEB message and receipt keys that record was sent with
    (``("CEB621Message", (("guid", ...), ("copNo", ...)))``, with returnStatus/Time/Info when the record
    carries its own status), or None for a record no CEB message carries."""
    name = (reference.findtext(W + "RecordName") or "").strip()
    direction = (reference.findtext(W + "TypeCode") or "IM").strip()
    kind = next((k for k in KINDS.values() if (k.canonical_record, k.direction) == (name, direction)), None)
    if kind is None or kind.receipt is None:
        return None
    values = from_canonical(working_copy(reference), _receipt_table(kind), pointer)
    names = (*kind.receipt_keys, *(f.source for f in RECEIPT_STATUS.fields))
    return kind.root, tuple((k, values[k]) for k in names if values.get(k))


def _receipt_table(kind: Kind) -> Table:
    """The fields of a CEB receipt record: the keys it echoes (as the record's table maps them) and its status."""
    keys = {*kind.receipt_keys, "guid"}
    return Table((*(f for f in kind.head_table.fields if f.source in keys), *RECEIPT_STATUS.fields))


# The statuses of CEB receipts that refuse the record (besides negative ones, processing errors): 4 发送海关失败
# (not delivered to customs), 100 海关退单 (returned by customs). Spec tables 3-7, 3-15, 3-19, 3-33 ...
REFUSED = frozenset({"4", "100"})


def receipt_to_canonical(root: etree._Element, kind: Kind) -> etree._Element:
    """A CEB receipt (CEB312 ... answering ``kind``) as a canonical Receipt payload: one ReferencedRecord per
    answered record with its keys and its own status, an Error per refused record; rejected if any is."""
    assert kind.receipt is not None
    assert kind.receipt_record is not None
    payload = etree.Element(W + "Receipt", nsmap={None: W[1:-1]})
    answers = root.findall(C + kind.receipt_record)
    fields = [fields_of(answer) for answer in answers]
    refused = [
        n
        for n, f in enumerate(fields, 1)
        if f.get("returnStatus", "").startswith("-") or f.get("returnStatus") in REFUSED
    ]
    etree.SubElement(payload, W + "FunctionCode").text = "rejected" if refused else "accepted"
    issued = etree.SubElement(payload, W + "IssueDateTime")
    latest = max(fields, key=lambda f: f.get("returnTime", ""))
    RETURN_TIME.fill(issued, latest.get("returnTime", ""), latest, f"/{kind.receipt}/{kind.receipt_record}/returnTime")
    table = _receipt_table(kind)
    for number, values in enumerate(fields, 1):
        where = (
            f"/{kind.receipt}/{kind.receipt_record}[{number}]"
            if len(fields) > 1
            else f"/{kind.receipt}/{kind.receipt_record}"
        )
        record = etree.SubElement(payload, W + "ReferencedRecord")
        etree.SubElement(record, W + "RecordName").text = kind.canonical_record
        etree.SubElement(record, W + "TypeCode").text = kind.direction
        to_canonical(values, table, record, _under(where))
    for number in refused:
        values = fields[number - 1]
        error = etree.SubElement(payload, W + "Error")
        etree.SubElement(error, W + "ValidationCode").text = values.get("returnStatus", "")
        etree.SubElement(error, W + "Pointer").text = f"/{kind.receipt}/{kind.receipt_record}[{number}]"
        etree.SubElement(error, W + "Description").text = values.get("returnInfo", "")
    sort_children(payload, structure(_WCO_XSD, "Receipt"), "Receipt")  # the tables' order is the records'
    return payload


def receipt_kind_of(root: etree._Element) -> Kind | None:
    """The kind a CEB receipt (CEB312 ...) answers, or None when ``root`` is no receipt the gateway maps."""
    qname = etree.QName(root)
    return RECEIPTS.get(qname.localname) if qname.namespace == CEB_NS else None


@dataclass(frozen=True)
class Transfer:
    """The ``BaseTransfer`` the gateway writes into the CEB messages it sends: who transmits them."""

    cop_code: str = "GATEWAY"
    cop_name: str = "Customs exchange gateway"
    dxp_mode: str = "DXP"
    dxp_id: str = "GATEWAY"


def kind_for(payload: etree._Element, pointer: str) -> Kind:
    """The CEB message for a canonical payload: by payload element, its records' element (an Inventory holds
    ClearanceList or ExportClearanceList records) and the records' TypeCode (IM / EX) where they have one."""
    name = etree.QName(payload).localname
    records = [r for r in payload if isinstance(r.tag, str)]
    directions = {(r.findtext(W + "TypeCode") or "").strip() for r in records} - {""}
    record_names = {etree.QName(r).localname for r in records}
    if len(directions) > 1 or len(record_names) > 1:
        raise MappingFailed(
            f"{pointer}: one CEB message carries one kind of record, imports or exports, not both "
            f"({', '.join(sorted(record_names))}; TypeCode {sorted(directions)})",
            pointer=pointer,
        )
    for kind in KINDS.values():
        if (
            kind.payload == name
            and (not record_names or kind.canonical_record in record_names)
            and (not directions or kind.direction in directions)
        ):
            return kind
    raise MappingFailed(
        f"{pointer}: the ceb format has no message for a wco:{name} payload of {', '.join(sorted(record_names))} "
        f"with TypeCode {sorted(directions)}; supported: "
        f"{', '.join(f'{k.payload}/{k.canonical_record}/{k.direction} -> {k.root}' for k in KINDS.values())}",
        pointer=pointer,
    )


@dataclass
class _Problems:
    """What rendering one message found: values CEB cannot carry, fields CEB needs that are not given."""

    losses: list[Loss] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (canonical pointer, CEB field)


def from_canonical_payload(
    payload: etree._Element, guid: str, transfer: Transfer, pointer: str = "/Envelope/Body"
) -> tuple[etree._Element, list[Loss]]:
    """The CEB message of a canonical payload, and every canonical value it cannot carry.

    Raises ``MappingFailed`` for values that cannot be mapped (unknown codes, conflicting currencies) and for
    fields the CEB message needs but the canonical record lacks.
    """
    base = f"{pointer}/{etree.QName(payload).localname}"
    kind = kind_for(payload, base)
    root = etree.Element(C + kind.root, nsmap={"ceb": CEB_NS})
    root.set("guid", guid)
    root.set("version", "1.0")
    problems = _Problems()
    found = payload.findall(W + kind.canonical_record)
    limit = kind.max_records or len(found)
    problems.losses.extend(_beyond(found, limit, f"{base}/{kind.canonical_record}"))
    for index, record in enumerate(found[:limit], 1):
        where = _indexed(f"{base}/{kind.canonical_record}", index, len(found))
        _render_record(root, record, kind, where, problems)
    if problems.missing:
        shown = "; ".join(f"{at} (CEB {name})" for at, name in problems.missing[:10])
        raise MappingFailed(
            f"the {kind.root} needs what the canonical message does not give: {shown}",
            pointer=problems.missing[0][0],
        )
    if kind.transfer:
        _transfer(root, transfer)
    return root, problems.losses


def _render_record(root: etree._Element, record: etree._Element, kind: Kind, where: str, problems: _Problems) -> None:
    work = working_copy(record)
    items = work.findall(W + kind.canonical_line)
    for item in items:
        work.remove(item)
    head = from_canonical(work, kind.head_table, where)
    problems.losses.extend(leftovers(work, where))
    wrapper = etree.SubElement(root, C + kind.record)
    target = wrapper if kind.head == kind.record else etree.SubElement(wrapper, C + kind.head)
    _emit(target, kind.head_fields, head, kind.head_table, where, problems)
    if kind.lines is None or kind.line_table is None:
        problems.losses.extend(_beyond(items, 0, f"{where}/{kind.canonical_line}"))
        return
    if not items and kind.lines_required:
        problems.missing.append((f"{where}/{kind.canonical_line}", kind.lines))
    max_lines = kind.max_lines or len(items)
    problems.losses.extend(_beyond(items, max_lines, f"{where}/{kind.canonical_line}"))
    for number, item in enumerate(items[:max_lines], 1):
        at = _indexed(f"{where}/{kind.canonical_line}", number, len(items))
        line = from_canonical(item, kind.line_table, at)
        problems.losses.extend(leftovers(item, at))
        _emit(etree.SubElement(wrapper, C + kind.lines), kind.line_fields, line, kind.line_table, at, problems)


def _indexed(path: str, number: int, count: int) -> str:
    """``path[n]`` when the element repeats, as XPath writes it."""
    return f"{path}[{number}]" if count > 1 else path


def _beyond(elements: Sequence[etree._Element], limit: int, path: str) -> list[Loss]:
    """The repeated elements past what the CEB message can hold."""
    return [
        Loss(_indexed(path, n, len(elements)), f"({etree.QName(elements[n - 1]).localname})")
        for n in range(limit + 1, len(elements) + 1)
    ]


def _emit(
    target: etree._Element,
    sequence: Sequence[tuple[str, bool]],
    values: Mapping[str, str],
    table: Table,
    pointer: str,
    problems: _Problems,
) -> None:
    """Write a flat CEB record in its XSD order; note required fields neither given nor defaulted, and values
    this message has no field for (the export order shares the import order's table but has fewer fields)."""
    targets = {f.source: f.target for f in table.fields}
    for name, required in sequence:
        value = values.get(name) or (DEFAULTS.get(name) if required else None)
        if value:
            etree.SubElement(target, C + name).text = value
        elif required:
            source = targets.get(name)
            problems.missing.append((f"{pointer}/{source}" if source else pointer, name))
    carried = {name for name, _ in sequence}
    problems.losses.extend(
        Loss(f"{pointer}/{targets.get(name, name)}", value) for name, value in values.items() if name not in carried
    )


def _transfer(root: etree._Element, transfer: Transfer) -> None:
    element = etree.SubElement(root, C + "BaseTransfer")
    for name, value in (
        ("copCode", transfer.cop_code),
        ("copName", transfer.cop_name),
        ("dxpMode", transfer.dxp_mode),
        ("dxpId", transfer.dxp_id),
    ):
        etree.SubElement(element, C + name).text = value


def raise_if_lossy(losses: Sequence[Loss]) -> None:
    raise_losses(losses, "ceb")
