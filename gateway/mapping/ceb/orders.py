"""CEB311 (import) and CEB303 (export) electronic orders <-> ``order`` / Order/ElectronicOrder.

    CEB311 order (import)     <-> ElectronicOrder TypeCode IM     receipt CEB312 OrderReturn
    CEB303 order (export)     <-> ElectronicOrder TypeCode EX     receipt CEB304 OrderReturn

Both share one table: the export order has fewer fields, so rendering one of what only the import order carries
(DiscountAmount, Buyer ...) is a loss the renderer names.
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import DIRECTION
from gateway.mapping.ceb.fields import HEADER, NOTE, PAYMENT_PROVIDER, PLATFORM, PRICES, SELLER, amount, person
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.codes import COUNTRY
from gateway.mapping.records import Code, Field, Measure, Table, Telephone

HEAD = Table((
    *HEADER,
    Field("orderType", "TypeCode", Code(DIRECTION)),
    Field("orderNo", "OrderID"),
    *PLATFORM,
    *SELLER,
    amount("goodsValue", "InvoiceAmount"),
    amount("freight", "FreightChargeAmount"),
    amount("discount", "DiscountAmount"),
    amount("taxTotal", "WithheldTaxAmount"),
    amount("acturalPaid", "PaymentAmount"),
    *person("buyerRegNo", "Buyer", "buyerName", "buyerIdType", "buyerIdNumber", "buyerTelephone"),
    *PAYMENT_PROVIDER,
    Field("payTransactionId", "PaymentTransactionID"),
    Field("batchNumbers", "BatchID"),
    Field("consignee", "Consignee/Name"),
    Field("consigneeDistrict", "Consignee/Address/CountrySubDivisionCode"),
    Field("consigneeAddress", "Consignee/Address/Line"),
    Field("consigneeTelephone", "Consignee/Communication", Telephone()),
    NOTE,
))  # fmt: skip
LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("itemNo", "ItemID"),
    Field("itemName", "ItemName"),
    Field("gmodel", "Specification"),
    Field("itemDescribe", "ItemDescription"),
    Field("barCode", "BarcodeID"),
    Field("country", "OriginCountryCode", Code(COUNTRY)),
    Field("qty", "Quantity", Measure("unit")),
    *PRICES,
    NOTE,
))  # fmt: skip

RETURN = "guid ebpCode ebcCode orderNo returnStatus returnTime returnInfo"
KEY = ("order", "ebpCode", "orderNo")

KINDS = (
    message(
        "CEB311Message", "order", "ElectronicOrder", "Order",
        Part("OrderHead", "guid appType appTime appStatus orderType orderNo ebpCode ebpName ebcCode ebcName "
             "goodsValue freight discount taxTotal acturalPaid currency buyerRegNo buyerName buyerTelephone "
             "buyerIdType buyerIdNumber payCode? payName? payTransactionId? batchNumbers? consignee "
             "consigneeTelephone consigneeAddress consigneeDistrict? note?", HEAD),
        Part("OrderList", "gnum itemNo? itemName gmodel itemDescribe? barCode? unit qty price totalPrice currency "
             "country note?", LINE),
        direction="IM", receipt=RETURN, key=KEY,
    ),
    message(
        "CEB303Message", "order", "ElectronicOrder", "Order",
        Part("OrderHead", "guid appType appTime appStatus orderType orderNo ebpCode ebpName ebcCode ebcName "
             "goodsValue freight currency note?", HEAD),
        Part("OrderList", "gnum itemNo itemName itemDescribe? barCode? unit currency qty price totalPrice note?", LINE),
        direction="EX", receipt=RETURN, key=KEY,
    ),
)  # fmt: skip
