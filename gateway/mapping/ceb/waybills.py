"""Waybills: CEB511 (import) and CEB505 (export) <-> ``logistics``, CEB513 waybill status <-> ``logistics-status``.

CEB511 logistics waybill  <-> Logistics/Waybill              receipt CEB512 LogisticsReturn
CEB505 export waybill     <-> Logistics/ExportWaybill        receipt CEB506 LogisticsReturn
CEB513 waybill status     <-> LogisticsStatus/WaybillStatus  receipt CEB514 LogisticsStatusReturn
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import TIME
from gateway.mapping.ceb.fields import BILL, HEADER, NOTE, WAYBILL, amount
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Field, FixedUnit, Table, Telephone

WAYBILL_HEAD = Table((
    *HEADER,
    *WAYBILL,
    BILL,
    Field("orderNo", "OrderID"),
    amount("freight", "FreightChargeAmount"),
    amount("insuredFee", "InsuranceAmount"),
    Field("weight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("packNo", "TotalPackageQuantity"),
    Field("goodsInfo", "GoodsDescription"),
    Field("consignee", "Consignee/Name"),
    Field("consigneeAddress", "Consignee/Address/Line"),
    Field("consigneeTelephone", "Consignee/Communication", Telephone()),
    NOTE,
))  # fmt: skip

# CEB505 export waybill (物流运单, spec 2.7, table 2-22): no order number and no consignee; the sender instead.
EXPORT_WAYBILL = Table((
    *HEADER,
    *WAYBILL,
    amount("freight", "FreightChargeAmount"),
    amount("insuredFee", "InsuranceAmount"),
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("packNo", "TotalPackageQuantity"),
    Field("goodsInfo", "GoodsDescription"),
    Field("ebcName", "Consignor/Name"),
    Field("ebcCode", "Consignor/ID"),
    Field("ebcTelephone", "Consignor/Communication", Telephone()),
    NOTE,
))  # fmt: skip

# CEB513 waybill status (运单状态, spec 3.7, table 3-24): the carrier reports a parcel signed for (logisticsStatus S).
STATUS = Table((
    *HEADER,
    *WAYBILL,
    Field("logisticsStatus", "DeliveryStatusCode"),
    Field("logisticsTime", "StatusDateTime", TIME),
    NOTE,
))  # fmt: skip

RETURN = "guid logisticsCode logisticsNo returnStatus returnTime returnInfo"

KINDS = (
    message(
        "CEB511Message", "logistics", "Waybill", "Logistics",
        Part("LogisticsHead", "guid appType appTime appStatus logisticsCode logisticsName logisticsNo billNo? "
             "orderNo freight? insuredFee? currency weight packNo goodsInfo? consignee consigneeAddress "
             "consigneeTelephone note?", WAYBILL_HEAD),
        direction="IM", receipt=RETURN, key=("waybill", "logisticsCode", "logisticsNo"),
    ),
    message(
        "CEB505Message", "logistics", "ExportWaybill", "Logistics",
        Part("Logistics", "guid appType appTime appStatus logisticsCode logisticsName logisticsNo freight "
             "insuredFee currency grossWeight packNo goodsInfo ebcCode? ebcName? ebcTelephone? note?",
             EXPORT_WAYBILL),
        direction="EX", receipt=RETURN, key=("export-waybill", "logisticsCode", "logisticsNo"),
    ),
    message(
        "CEB513Message", "logistics-status", "WaybillStatus", "LogisticsStatus",
        Part("LogisticsStatus", "guid appType appTime appStatus logisticsCode logisticsName logisticsNo "
             "logisticsStatus logisticsTime note?", STATUS),
        direction="IM",
        receipt="guid logisticsCode logisticsNo logisticsStatus returnStatus returnTime returnInfo",
        key=("waybill", "logisticsCode", "logisticsNo"), follows=True,
    ),
)  # fmt: skip
