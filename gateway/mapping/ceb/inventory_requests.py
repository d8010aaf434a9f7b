"""Requests about a clearance list: cancel it, return its goods (import and export).

    CEB623 cancellation        <-> InventoryCancellation/CancellationRequest        receipt CEB624 InvtCancelReturn
    CEB625 return request      <-> InventoryReturn/ReturnRequest                    receipt CEB626 InvtRefundReturn
    CEB605 export cancellation <-> InventoryCancellation/ExportCancellationRequest  receipt CEB606 InvtCancelReturn
    CEB213 export return       <-> InventoryReturn/ExportReturnRequest              receipt CEB214 RefundReturn

Each follows the list it concerns (its business key), but for CEB213, which opens the return of an export list.
"""

from __future__ import annotations

from gateway.mapping.ceb.fields import (
    BILL,
    BUYER,
    DECLARANT,
    DIRECTION_FLAG,
    HEADER,
    LIST_KEYS,
    NOTE,
    OFFICE,
    PLATFORM,
    QUANTITIES,
    SELLER,
    WAYBILL,
    transport,
)
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.codes import COUNTRY
from gateway.mapping.records import Code, Field, Measure, Table

_REASON = Field("reason", "Reason")

# CEB623 request to cancel a clearance list (撤销申请单, spec 3.11, table 3-41): the inventory's keys and why.
CANCEL = Table((
    *HEADER,
    Field("orderNo", "OrderID"),
    *PLATFORM,
    *SELLER,
    *WAYBILL,
    *LIST_KEYS,
    OFFICE,
    *BUYER,
    *DECLARANT,
    _REASON,
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

# CEB605 request to cancel an export clearance list (撤销申请单, spec 2.13, table 2-44).
EXPORT_CANCEL = Table((
    *HEADER,
    OFFICE,
    *LIST_KEYS,
    _REASON,
    *DECLARANT,
    *SELLER,
    NOTE,
))  # fmt: skip

# CEB213 request to return exported goods (退货申请单, spec 2.17, table 2-58).
EXPORT_REFUND = Table((
    *HEADER,
    OFFICE,
    Field("loctNo", "GoodsLocationID"),
    *PLATFORM,
    *SELLER,
    *WAYBILL,
    Field("coElNo", "TraderReferenceID"),  # the return's own number: coElNo in place of copNo
    *LIST_KEYS[1:],
    Field("tradeMode", "ReturnProcedureCode"),
    *DECLARANT,
    BILL,
    DIRECTION_FLAG,
    *transport(),
    Field("portCode", "BorderOfficeID"),
    _REASON,
    Field("country", "DispatchCountryCode", Code(COUNTRY)),
    NOTE,
))  # fmt: skip
EXPORT_REFUND_LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("gname", "Description"),
    Field("gmodel", "Specification"),
    Field("gcode", "Classification/ID"),
    *QUANTITIES,
    NOTE,
))  # fmt: skip

_CANCEL = (
    "guid appType appTime appStatus customsCode orderNo ebpCode ebpName ebcCode ebcName logisticsNo logisticsCode "
    "logisticsName copNo? preNo? invtNo buyerIdType buyerIdNumber buyerName buyerTelephone agentCode agentName "
    "reason note?"
)
_CANCEL_RETURN = "guid customsCode? agentCode? ebpCode? ebcCode? copNo preNo invtNo? returnStatus returnTime returnInfo"
_INVENTORY = ("inventory", "ebpCode", "orderNo")

KINDS = (
    message(
        "CEB623Message", "inventory-cancellation", "CancellationRequest", "InvtCancel",
        Part("InvtCancel", _CANCEL, CANCEL),
        direction="IM", receipt=_CANCEL_RETURN, key=_INVENTORY, follows=True,
    ),
    message(
        "CEB625Message", "inventory-return", "ReturnRequest", "InvtRefund",
        Part("InvtRefundHead", _CANCEL, CANCEL),
        Part("InvtRefundList", "gnum gcode gname qty unit note?", REFUND_LINE),
        direction="IM", receipt=_CANCEL_RETURN, key=_INVENTORY, follows=True,
    ),
    message(
        "CEB605Message", "inventory-cancellation", "ExportCancellationRequest", "InvtCancel",
        Part("InvtCancel", "guid appType appTime appStatus customsCode copNo preNo? invtNo reason agentCode "
             "agentName ebcCode ebcName note?", EXPORT_CANCEL),
        direction="EX", receipt="guid agentCode copNo preNo invtNo returnStatus returnTime returnInfo",
        key=("export-inventory", "agentCode", "copNo"), follows=True,
    ),
    message(
        "CEB213Message", "inventory-return", "ExportReturnRequest", "InvtRefund",
        Part("InvtRefundHead", "guid appType appTime appStatus customsCode loctNo? ebpCode ebpName ebcCode ebcName "
             "logisticsNo logisticsCode logisticsName coElNo preNo? invtNo tradeMode? agentCode agentName billNo "
             "ieFlag trafMode trafName portCode reason country voyageNo note?", EXPORT_REFUND),
        Part("InvtRefundList", "gnum gcode gname gmodel qty qty1 unit unit1 qty2? unit2? note?", EXPORT_REFUND_LINE),
        direction="EX",
        receipt="guid ebpCode? ebcCode? agentCode coElNo preNo? invtNo returnStatus returnTime returnInfo",
        receipt_record="RefundReturn", key=("export-return", "agentCode", "coElNo"),
    ),
)  # fmt: skip
