"""CEB411 payment voucher (import) and CEB403 payment receipt (export) <-> ``payment``.

CEB411 payment voucher    <-> Payment/PaymentVoucher      receipt CEB412 PaymentReturn
CEB403 payment receipt    <-> Payment/PaymentReceipt      receipt CEB404 ReceiptsReturn
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import TIME
from gateway.mapping.ceb.fields import HEADER, NOTE, PAYMENT_PROVIDER, PLATFORM, SELLER, amount, person
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Field, Table

VOUCHER = Table((
    *HEADER,
    *PAYMENT_PROVIDER,
    Field("payTransactionId", "PaymentTransactionID"),
    Field("orderNo", "OrderID"),
    *PLATFORM,
    *person("", "Payer", "payerName", "payerIdType", "payerIdNumber", "telephone"),
    amount("amountPaid", "PaymentAmount"),
    Field("payTime", "PaymentDateTime", TIME),
    NOTE,
))  # fmt: skip

# CEB403 payment receipt of an export order (收款单, spec 2.5, table 2-14): the e-commerce enterprise's money in.
RECEIPT = Table((
    *HEADER,
    *PLATFORM,
    *SELLER,
    Field("orderNo", "OrderID"),
    *PAYMENT_PROVIDER,
    Field("payNo", "PaymentTransactionID"),
    amount("charge", "PaymentAmount"),
    Field("accountingDate", "PaymentDateTime", TIME),
    NOTE,
))  # fmt: skip

KINDS = (
    message(
        "CEB411Message", "payment", "PaymentVoucher", "Payment",
        Part("PaymentHead", "guid appType appTime appStatus payCode payName payTransactionId orderNo ebpCode "
             "ebpName payerIdType payerIdNumber payerName telephone? amountPaid currency payTime note?", VOUCHER),
        direction="IM", receipt="guid payCode payTransactionId returnStatus returnTime returnInfo",
        key=("payment", "payCode", "payTransactionId"),
    ),
    message(
        "CEB403Message", "payment", "PaymentReceipt", "Receipts",
        Part("Receipts", "guid appType appTime appStatus ebpCode ebpName ebcCode ebcName orderNo payCode? payName "
             "payNo? charge currency accountingDate note?", RECEIPT),
        direction="EX", receipt="guid ebcCode orderNo payNo? returnStatus returnTime returnInfo",
        key=("payment-receipt", "ebcCode", "orderNo"),
    ),
)  # fmt: skip
