"""Export cargo reports <-> ``cargo-report``: what moves the parcels of export clearance lists, and back.

    CEB507 arrival (运抵单)             <-> CargoReport/ArrivalReport      receipt CEB508 ArrivalReturn
    CEB607 master/house list (清单总分单) <-> CargoReport/ConsignmentList    receipt CEB608 WayBillReturn
    CEB509 departure (离境单)           <-> CargoReport/DepartureReport    receipt CEB510 DepartureReturn
    CEB215 tally of a returned parcel   <-> CargoReport/ReturnTallyReport  receipt CEB216 InvtRefundDetailReturn

CEB507, 607, 509 (spec 2.8, 2.14, 2.9) list their parcels as Parcel lines (unbounded; an arrival may list none) and
number the messages of a split report; CEB215 (理货明细单, spec 2.19, table 2-64) is flat.
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import TIME
from gateway.mapping.ceb.fields import (
    BILL,
    CARRIER,
    DECLARANT,
    DIRECTION_FLAG,
    HEADER,
    MODE,
    NOTE,
    OFFICE,
    REFERENCES,
    REPORT_TAIL,
    SITE_OPERATOR,
    WAYBILL,
    transport,
)
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Field, FixedUnit, Table

_DOMESTIC = Field("domesticTrafNo", "DomesticTransportMeansID")

ARRIVAL = Table((
    *HEADER,
    OFFICE,
    *REFERENCES,
    *SITE_OPERATOR,
    Field("loctNo", "GoodsLocationID"),
    DIRECTION_FLAG,
    MODE,
    BILL,
    _DOMESTIC,
    *CARRIER,
    *REPORT_TAIL,
))  # fmt: skip
CONSIGNMENT_LIST = Table((
    *HEADER,
    OFFICE,
    *REFERENCES,
    *DECLARANT,
    Field("loctNo", "GoodsLocationID"),
    *transport(),
    BILL,
    _DOMESTIC,
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    *CARRIER,
    *REPORT_TAIL,
))  # fmt: skip
DEPARTURE = Table((
    *HEADER,
    OFFICE,
    *REFERENCES,
    *CARRIER,
    *transport(),
    BILL,
    Field("leaveTime", "DepartureDateTime", TIME),
    *REPORT_TAIL,
))  # fmt: skip
PARCEL = Table((
    Field("gnum", "SequenceNumeric"),
    Field("totalPackageNo", "ConsolidationID"),
    Field("logisticsNo", "WaybillID"),
    Field("invtNo", "DeclarationID"),
    NOTE,
))  # fmt: skip
RETURN_TALLY = Table((
    *HEADER,
    OFFICE,
    *SITE_OPERATOR,
    *WAYBILL,
    Field("invtNo", "DeclarationID"),
    Field("coElNo", "TraderReferenceID"),
    Field("preNo", "PreEntryID"),
    BILL,
    DIRECTION_FLAG,
    *transport(),
    Field("location", "UnloadingLocation"),
    NOTE,
))  # fmt: skip

KINDS = (
    message(
        "CEB507Message", "cargo-report", "ArrivalReport", "Arrival",
        Part("ArrivalHead", "guid appType appTime appStatus customsCode copNo preNo? operatorCode operatorName "
             "loctNo? ieFlag trafMode billNo? domesticTrafNo logisticsCode logisticsName msgCount msgSeqNo note?",
             ARRIVAL),
        Part("ArrivalList", "gnum logisticsNo totalPackageNo? note?", PARCEL),
        direction="EX",
        receipt="guid operatorCode logisticsCode preNo copNo billNo msgSeqNo returnStatus returnTime returnInfo",
        key=("export-arrival", "operatorCode", "copNo"),
        canonical_line="Parcel", max_lines=None, lines_required=False,
    ),
    message(
        "CEB607Message", "cargo-report", "ConsignmentList", "WayBill",
        Part("WayBillHead", "guid appType appTime appStatus customsCode copNo preNo? agentCode agentName loctNo? "
             "trafMode trafName voyageNo billNo domesticTrafNo? grossWeight logisticsCode logisticsName msgCount "
             "msgSeqNo note?", CONSIGNMENT_LIST),
        Part("WayBillList", "gnum totalPackageNo? logisticsNo invtNo? note?", PARCEL),
        direction="EX",
        receipt="guid agentCode logisticsCode copNo preNo billNo msgSeqNo returnStatus returnTime returnInfo",
        key=("export-consignment-list", "agentCode", "copNo"),
        canonical_line="Parcel", max_lines=None,
    ),
    message(
        "CEB509Message", "cargo-report", "DepartureReport", "Departure",
        Part("DepartureHead", "guid appType appTime appStatus customsCode copNo preNo? logisticsCode logisticsName "
             "trafMode trafName? voyageNo? billNo? leaveTime msgCount msgSeqNo note?", DEPARTURE),
        Part("DepartureList", "gnum totalPackageNo? logisticsNo note?", PARCEL),
        direction="EX",
        receipt="guid logisticsCode copNo preNo msgSeqNo returnStatus returnTime returnInfo",
        key=("export-departure", "logisticsCode", "copNo"),
        canonical_line="Parcel", max_lines=None,
    ),
    message(
        "CEB215Message", "cargo-report", "ReturnTallyReport", "InvtRefundDetail",
        Part("InvtRefundDetail", "guid appType appTime appStatus customsCode operatorCode operatorName "
             "logisticsCode logisticsName logisticsNo invtNo? coElNo preNo? billNo ieFlag trafMode trafName "
             "voyageNo location? note?", RETURN_TALLY),
        direction="EX",
        receipt="guid operatorCode logisticsCode logisticsNo coElNo preNo? returnStatus returnTime returnInfo",
        key=("export-return-tally", "operatorCode", "coElNo"),
    ),
)  # fmt: skip
