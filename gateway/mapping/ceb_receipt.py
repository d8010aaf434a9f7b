"""The gateway's receipts to a CEB partner, in CEB's own receipt messages.

A message whose records could be read is answered record by record in the receipt of its kind (CEB312
OrderReturn for a CEB311, CEB622 InventoryReturn for a CEB621 ...), echoing the keys the partner identifies
its records by. A message that could not be read that far (not well-formed, not a supported CEB message) is
answered with CEB900 (报文格式校验回执, the format-check receipt).

Status: an accepted message is ``returnStatus`` 2 (电子口岸申报中: taken in, being declared); one held on the
watch list of non-compliant goods is 300 (人工审核, manual review), ``returnInfo`` naming the entries. A rejection is
the negative of the spec's chapter 7 error code (table 7-1, 4 digits), e.g. ``-0002`` for a schema error,
as the XSD says negative statuses mark processing errors; ``returnInfo`` starts with the same code, its
Chinese text, then the gateway's code and message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.ceb import CEB_NS, CHINA, KINDS, C, Kind, flat, guid_for
from gateway.text import shorten

if TYPE_CHECKING:  # the interface types only; mapping does not import the formats package at run time
    from gateway.formats.base import Receipt, RecordRef

# Gateway rejection code -> spec chapter 7, table 7-1 (code, text).
CHAPTER_7: Mapping[str, tuple[str, str]] = {
    "malformed-xml": ("0001", "报文格式错误"),
    "schema-invalid": ("0002", "数据包不能通过schema验证"),
    "unsupported-message": ("0999", "其他格式错误"),
    "too-large": ("0999", "其他格式错误"),
    "malformed-multipart": ("0001", "报文格式错误"),
    "image-invalid": ("0999", "其他格式错误"),
    "signature-invalid": ("1001", "数字签名无效"),
    "certificate-expired": ("1002", "数字签名过期"),
    "certificate-untrusted": ("1999", "其他安全错误"),
    "not-permitted": ("1999", "其他安全错误"),
    "unknown-partner": ("1999", "其他安全错误"),
    "replayed": ("1999", "其他安全错误"),
    "no-route": ("2001", "指定的接收方不存在"),
    "mapping-failed": ("2999", "其他业务逻辑错误"),
    "matching-failed": ("2999", "其他业务逻辑错误"),  # three-list matching: the data disagree, a business error
    "matching-incomplete": ("2999", "其他业务逻辑错误"),
    "non-compliant": ("2999", "其他业务逻辑错误"),  # refused after a watch-list hold (non-compliant goods)
    "unavailable": ("3001", "数据库、中间件等系统错误"),
    "partner-suspended": ("3999", "其他系统级错误"),
    "rate-limited": ("3999", "其他系统级错误"),  # over the partner's quota (issue 17): send again later
}
OTHER = ("3999", "其他系统级错误")
ACCEPTED = "2"  # 电子口岸申报中
HELD = "300"  # 人工审核: held on the watch list of non-compliant goods for an officer's decision
FORMAT_CHECK = "CEB900Message"
# The receipt records that require the E-Port's preNo (and copNo), which the gateway gives in the E-Port's place.
_NEEDS_PRE_ENTRY = frozenset(
    {
        "InventoryReturn",
        "InvtCancelReturn",
        "InvtRefundReturn",
        "ArrivalReturn",
        "WayBillReturn",
        "DepartureReturn",
        "SummaryReturn",
    }
)
_BY_TYPE = {k.message_type: k.root for k in reversed(list(KINDS.values()))}  # import messages win for a bare type


def chapter_7(code: str) -> tuple[str, str]:
    return CHAPTER_7.get(code, OTHER)


def status_and_info(receipt: Receipt, limit: int) -> tuple[str, str]:
    """``returnStatus`` and ``returnInfo`` of a receipt, the info cut to the element's maximum length."""
    if receipt.held:
        reasons = "; ".join(e.description for e in receipt.errors)
        return HELD, shorten(f"300 人工审核 held [{receipt.gateway_message_id}]: {reasons}", limit)
    if receipt.accepted:
        return ACCEPTED, f"已接收[{receipt.gateway_message_id}] accepted by the gateway as {receipt.gateway_message_id}"
    first = receipt.errors[0].code if receipt.errors else "internal-error"
    number, text = chapter_7(first)
    parts = []
    for error in receipt.errors:
        where = f" at {error.pointer}" if error.pointer else ""
        parts.append(f"{error.code}{where}: {error.description}")
    info = f"{number} {text}: " + "; ".join(parts)
    return f"-{number}", shorten(info, limit)


def return_time(issued: dt.datetime) -> str:
    """``yyyyMMddHHmmssSSS`` in China time."""
    try:
        local = issued.astimezone(CHINA)
    except OverflowError:  # 9999-12-31 after 16:00 UTC is in year 10000 in China (was a 500)
        raise MappingFailed(
            f"IssueDateTime {issued.isoformat()} is after the last day a CEB returnTime can write (9999-12-31)",
            pointer="/Envelope/Body/Receipt/IssueDateTime",
        ) from None
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def business_receipt(receipt: Receipt) -> etree._Element | str:
    """The CEBx12/x22/304 ... receipt answering each record, or why none can: a sentence naming the field a
    record does not give that the receipt requires (CEB604 the export list's invtNo, CEB508 the billNo), or ""
    when the records name no one message with a CEB receipt. The CEB900 that answers instead carries the
    sentence (:func:`format_check_receipt`)."""
    kinds = {ref.kind for ref in receipt.records}
    if len(kinds) != 1:
        return ""
    kind = KINDS.get(kinds.pop())
    if kind is None or kind.receipt is None:
        return ""
    root = etree.Element(C + kind.receipt, nsmap={None: CEB_NS})
    root.set("guid", guid_for(receipt.gateway_message_id))
    root.set("version", "1.0")
    status, info = status_and_info(receipt, 1000)
    for number, ref in enumerate(receipt.records[:100], 1):
        element, missing = _return(kind, ref, receipt, status, info)
        if missing:
            return (
                f"no {kind.receipt}: its {kind.receipt_record} requires {', '.join(missing)}, which record {number} "
                f"of the {kind.root} does not give"
            )
        root.append(element)
    return root


def _return(kind: Kind, ref: RecordRef, receipt: Receipt, status: str, info: str) -> tuple[etree._Element, list[str]]:
    """The receipt record answering one record, and the fields it requires that the record does not give."""
    keys = dict(ref.keys)
    # CEB622, 624, 626 and the export receipts require copNo (optional in CEB621) and an 18-character preNo, the
    # E-Port's number for the list: the gateway stands in for the E-Port, so it gives its own message id, cut to 18.
    if kind.receipt_record in _NEEDS_PRE_ENTRY:
        keys.setdefault("copNo", keys.get("guid", "")[:20])
        if len(keys.get("preNo", "")) != 18:
            keys["preNo"] = receipt.gateway_message_id.replace("-", "").upper()[:18]
    # A record with its own status (a receipt from a CEB partner, routed on) keeps it; others get the receipt's.
    values = {"returnStatus": status, "returnTime": return_time(receipt.issued), "returnInfo": info, **keys}
    assert kind.receipt_record is not None  # business_receipt answers kinds with a receipt only
    element = etree.Element(C + kind.receipt_record)
    return element, flat.write(element, kind.receipt_fields, values)


def format_check_receipt(receipt: Receipt, why: str = "") -> etree._Element:
    """CEB900: the answer to a message whose records could not be read, or that no CEB receipt can answer
    (``why``, added to the returnInfo, says what that receipt would need)."""
    root = etree.Element(C + FORMAT_CHECK, nsmap={None: CEB_NS})
    root.set("guid", guid_for(receipt.gateway_message_id))
    root.set("version", "1.0")
    answered = receipt.referenced_message_id or ""
    kinds = [ref.kind for ref in receipt.records]
    original = kinds[0] if kinds else _BY_TYPE.get(receipt.referenced_message_type or "", "Unknown")
    status, info = status_and_info(receipt, 5000 - (len(why) + 2 if why else 0))
    if why:
        info = f"{info}; {why}"
    element = etree.SubElement(root, C + "MessageReturn")
    for name, value in (
        ("guid", answered if len(answered) == 36 else guid_for(receipt.gateway_message_id)),
        ("returnStatus", status),
        ("returnInfo", info),
        ("returnTime", return_time(receipt.issued)),
        ("oriCopMsgId", ""),
        ("oriMessageType", original),
        ("oriBizMessage", ""),
    ):
        etree.SubElement(element, C + name).text = value
    return root
