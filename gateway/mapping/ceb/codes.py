"""CEB code lists and value formats: the message functions and statuses, China time, record guids."""

from __future__ import annotations

import datetime as dt
import uuid

from gateway.mapping.codes import CodeList
from gateway.mapping.records import LocalDateTime

CEB_NS = "http://www.chinaport.gov.cn/ceb"
C = f"{{{CEB_NS}}}"
CHINA = dt.timezone(dt.timedelta(hours=8), "China")

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


def guid_for(value: str) -> str:
    """A 36-character upper-case id, as CEB wants one: a UUID as it is, else a UUID derived from the value."""
    if len(value) == 36:
        return value.upper()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:customs-gateway:{value}")).upper()
