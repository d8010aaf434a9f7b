"""CEB711 warehouse entry list (入库明细单, spec 3.15, table 3-52) <-> ``warehouse-entry`` / EntryList.

    CEB711 warehouse entry    <-> WarehouseEntry/EntryList    receipt CEB712 DeliveryReturn

The operator of a supervised site lists the parcels (waybills) of one arrival that entered the site: one list
per message, its parcels unbounded.
"""

from __future__ import annotations

from gateway.mapping.ceb.fields import (
    BILL,
    CARRIER,
    DIRECTION_FLAG,
    HEADER,
    NOTE,
    OFFICE,
    REFERENCES,
    SITE_OPERATOR,
    transport,
)
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Field, Table

HEAD = Table((
    *HEADER,
    OFFICE,
    *REFERENCES,
    Field("rkdNo", "DeclarationID"),
    *SITE_OPERATOR,
    DIRECTION_FLAG,
    *transport("trafNo"),
    BILL,
    *CARRIER,
    Field("unloadLocation", "UnloadingLocation"),
    NOTE,
))  # fmt: skip
LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("logisticsNo", "WaybillID"),
    NOTE,
))  # fmt: skip

KINDS = (
    message(
        "CEB711Message", "warehouse-entry", "EntryList", "Delivery",
        Part("DeliveryHead", "guid appType appTime appStatus customsCode copNo? preNo? rkdNo? operatorCode "
             "operatorName ieFlag trafMode trafNo voyageNo billNo logisticsCode logisticsName unloadLocation? note?",
             HEAD),
        Part("DeliveryList", "gnum logisticsNo note?", LINE),
        direction="IM",
        receipt="guid customsCode? operatorCode? copNo? preNo? rkdNo? returnStatus returnTime returnInfo",
        key=("warehouse-entry", "operatorCode", "copNo"),
        max_records=1, canonical_line="EnteredWaybill", max_lines=None,
    ),
)  # fmt: skip
