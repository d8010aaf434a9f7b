"""The canonical receipt copied from a template (issue 15) is the receipt built element by element, byte for
byte, for every shape a receipt takes."""

from __future__ import annotations

import datetime as dt
import threading

from lxml import etree

from gateway.formats.base import Receipt, ReceiptError
from gateway.formats.canonical import CanonicalAdapter, new_envelope, receipt_payload
from gateway.security.xml import to_bytes

ISSUED = dt.datetime(2026, 12, 3, 15, 4, 5, 678, tzinfo=dt.timezone(dt.timedelta(hours=2)))
ERRORS = (
    ReceiptError("schema-invalid", "element 'X' & <y> not expected", "/Envelope/Body/wco:RiskAlert"),
    ReceiptError("held", "watch list: " + "é" * 3000),
    ReceiptError("signature-invalid", "no pointer", None),
)


def element_by_element(receipt: Receipt) -> bytes:
    return to_bytes(
        new_envelope(
            message_id=receipt.gateway_message_id,
            message_type="receipt",
            sender=receipt.sender,
            receiver=receipt.receiver,
            created=receipt.issued,
            payload=receipt_payload(receipt),
            correlation_id=receipt.referenced_message_id,
        )
    )


def receipts() -> list[Receipt]:
    base = dict(issued=ISSUED, gateway_message_id="0b7e67e8-d45d-4de2-8ae7-214449d08350", sender="gw-eu")
    shapes = []
    for receiver in ("nl-customs", ""):
        for referenced in ("MSG-0123 <&>", None, ""):
            for accepted, held, errors in ((True, False, ()), (False, False, ERRORS), (True, True, ERRORS[1:2])):
                shapes.append(
                    Receipt(
                        **base,  # type: ignore[arg-type]
                        receiver=receiver,
                        referenced_message_id=referenced,
                        accepted=accepted,
                        held=held,
                        errors=errors,
                    )
                )
    return shapes


def test_the_receipt_from_the_template_is_byte_identical():
    adapter = CanonicalAdapter()
    for receipt in receipts():
        expected = element_by_element(receipt)
        assert to_bytes(adapter.render_receipt(receipt)) == expected, receipt
        assert to_bytes(adapter.render_receipt(receipt)) == expected, receipt  # the template is not changed


def test_each_thread_fills_its_own_copy():
    adapter = CanonicalAdapter()
    shapes = receipts()
    failures: list[str] = []

    def run() -> None:
        for _ in range(50):
            for receipt in shapes:
                if to_bytes(adapter.render_receipt(receipt)) != element_by_element(receipt):
                    failures.append(receipt.gateway_message_id)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert etree.QName(adapter.render_receipt(shapes[0])[1][0]).localname == "Receipt"
