"""Clearance lists (申报清单): CEB621 (import) and CEB603 (export) <-> ``inventory``.

CEB621 import inventory   <-> Inventory/ClearanceList         receipt CEB622 InventoryReturn
CEB603 export inventory   <-> Inventory/ExportClearanceList   receipt CEB604 InventoryReturn
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import BUSINESS_MODEL, CHARGE_BASIS, DECLARATION_MODE, DIRECTION
from gateway.mapping.ceb.fields import (
    BILL,
    BUYER,
    DECLARANT,
    HEADER,
    LIST_KEYS,
    NOTE,
    OFFICE,
    PLATFORM,
    PRICES,
    QUANTITIES,
    SELLER,
    WAYBILL,
    WEIGHTS,
    amount,
    party,
    transport,
)
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.codes import COUNTRY, PACKAGING
from gateway.mapping.records import Amount, Code, Field, LocalDate, Table

_TYPE = Field("ieFlag", "TypeCode", Code(DIRECTION))
_BUSINESS_MODEL = Field("tradeMode", "BusinessModelCode", Code(BUSINESS_MODEL))
_PACKAGES = (
    Field("wrapType", "PackagingTypeCode", Code(PACKAGING, keep_national=True)),
    Field("packNo", "TotalPackageQuantity"),
    *WEIGHTS,
)
_GOODS = (
    Field("gnum", "SequenceNumeric"),
    Field("itemRecordNo", "ItemRecordID"),
    Field("itemNo", "ItemID"),
    Field("itemName", "ItemName"),
    Field("gname", "Description"),
    Field("gmodel", "Specification"),
    Field("barCode", "BarcodeID"),
    Field("gcode", "Classification/ID"),
)

IMPORT_HEAD = Table((
    *HEADER,
    _TYPE,
    _BUSINESS_MODEL,
    Field("orderNo", "OrderID"),
    *PLATFORM,
    *SELLER,
    *WAYBILL,
    *LIST_KEYS,
    Field("assureCode", "Surety/ID"),
    Field("emsNo", "BondedAccountID"),
    Field("declTime", "AcceptanceDate", LocalDate()),
    OFFICE,
    Field("portCode", "BorderOfficeID"),
    Field("ieDate", "BorderCrossingDate", LocalDate()),
    *BUYER,
    Field("consigneeAddress", "Consignee/Address/Line"),
    *DECLARANT,
    *party("area", "WarehouseKeeper"),
    *transport("trafNo"),
    BILL,
    Field("loctNo", "GoodsLocationID"),
    Field("licenseNo", "LicenceID"),
    Field("country", "ExportCountryCode", Code(COUNTRY)),
    amount("freight", "FreightChargeAmount"),
    amount("insuredFee", "InsuranceAmount"),
    *_PACKAGES,
    NOTE,
))  # fmt: skip
IMPORT_LINE = Table((
    *_GOODS,
    Field("country", "OriginCountryCode", Code(COUNTRY)),
    Field("tradeCountry", "TradeCountryCode", Code(COUNTRY)),
    *QUANTITIES,
    *PRICES,
    NOTE,
))  # fmt: skip

# CEB603 export clearance list (申报清单, spec 2.11, table 2-38): no buyer, consignee or surety; the producer,
# destination country and port, and how freight and insurance are given (each with its own currency).
EXPORT_HEAD = Table((
    *HEADER,
    OFFICE,
    *PLATFORM,
    Field("orderNo", "OrderID"),
    *WAYBILL,
    *LIST_KEYS,
    _TYPE,
    Field("portCode", "BorderOfficeID"),
    Field("ieDate", "BorderCrossingDate", LocalDate()),
    Field("statisticsFlag", "DeclarationModeCode", Code(DECLARATION_MODE)),
    *DECLARANT,
    *SELLER,
    *party("owner", "Producer"),
    *party("iac", "WarehouseKeeper"),
    Field("emsNo", "BondedAccountID"),
    _BUSINESS_MODEL,
    *transport(),
    BILL,
    Field("totalPackageNo", "ConsolidationID"),
    Field("loctNo", "GoodsLocationID"),
    Field("licenseNo", "LicenceID"),
    Field("country", "DestinationCountryCode", Code(COUNTRY)),
    Field("POD", "DestinationPortID"),
    Field("freight", "FreightChargeAmount", Amount("fCurrency")),
    Field("fFlag", "FreightChargeBasisCode", Code(CHARGE_BASIS)),
    Field("insuredFee", "InsuranceAmount", Amount("iCurrency")),
    Field("iFlag", "InsuranceBasisCode", Code(CHARGE_BASIS)),
    *_PACKAGES,
    NOTE,
))  # fmt: skip
EXPORT_LINE = Table((
    *_GOODS,
    Field("country", "DestinationCountryCode", Code(COUNTRY)),
    *QUANTITIES,
    *PRICES,
    NOTE,
))  # fmt: skip

KINDS = (
    message(
        "CEB621Message", "inventory", "ClearanceList", "Inventory",
        Part("InventoryHead", "guid appType appTime appStatus orderNo ebpCode ebpName ebcCode ebcName logisticsNo "
             "logisticsCode logisticsName copNo? preNo? assureCode emsNo? invtNo? ieFlag declTime customsCode "
             "portCode ieDate? buyerIdType buyerIdNumber buyerName buyerTelephone consigneeAddress agentCode "
             "agentName areaCode? areaName? tradeMode trafMode trafNo? voyageNo? billNo? loctNo? licenseNo? country "
             "freight insuredFee currency wrapType? packNo grossWeight netWeight note?", IMPORT_HEAD),
        Part("InventoryList", "gnum itemRecordNo? itemNo? itemName? gcode gname gmodel barCode? country "
             "tradeCountry? currency qty unit qty1 unit1 qty2? unit2? price totalPrice note?", IMPORT_LINE),
        direction="IM",
        receipt="guid customsCode? ebpCode? ebcCode? agentCode? copNo preNo invtNo? returnStatus returnTime "
                "returnInfo",
        key=("inventory", "ebpCode", "orderNo"),
    ),
    message(
        "CEB603Message", "inventory", "ExportClearanceList", "Inventory",
        Part("InventoryHead", "guid appType appTime appStatus customsCode ebpCode ebpName orderNo logisticsCode "
             "logisticsName logisticsNo copNo preNo? invtNo? ieFlag portCode ieDate statisticsFlag agentCode "
             "agentName ebcCode ebcName ownerCode ownerName iacCode? iacName? emsNo? tradeMode trafMode trafName? "
             "voyageNo? billNo? totalPackageNo? loctNo? licenseNo? country POD freight fCurrency fFlag insuredFee "
             "iCurrency iFlag wrapType packNo grossWeight netWeight note?", EXPORT_HEAD),
        Part("InventoryList", "gnum itemNo itemRecordNo? itemName? gcode gname gmodel barCode country currency qty "
             "qty1 qty2? unit unit1 unit2? price totalPrice note?", EXPORT_LINE),
        direction="EX",
        receipt="guid agentCode copNo preNo invtNo ebcCode ebpCode orderNo statisticsFlag returnStatus returnTime "
                "returnInfo",
        key=("export-inventory", "agentCode", "copNo"),
    ),
)  # fmt: skip
