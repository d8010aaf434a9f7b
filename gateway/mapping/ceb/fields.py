"""The field groups the CEB tables share: the record header, parties, the list keys, transport, goods.

A CEB record is flat (``<ebpName>``, ``<ebpCode>`` ...); most of its fields come in the same groups from one
message to the next: a party is a name and a code, a parcel its carrier and waybill number, a clearance list is
named by the trader's, the E-Port's and customs' numbers. Each group is written once here, in canonical element
order, and the message tables (one module per message family) put them together.
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import APP_STATUS, APP_TYPE, DIRECTION, ID_TYPE, TIME
from gateway.mapping.codes import TRANSPORT_MODE
from gateway.mapping.records import Amount, Code, ExactLength, Field, FixedUnit, Measure, Telephone

GUID = Field("guid", "FunctionalReferenceID", ExactLength(36))  # the record's: CEB wants 36 characters
HEADER = (
    GUID,
    Field("appType", "FunctionCode", Code(APP_TYPE)),
    Field("appTime", "IssueDateTime", TIME),
    Field("appStatus", "StatusCode", Code(APP_STATUS)),
)
NOTE = Field("note", "AdditionalInformation/StatementDescription")
REPORT_TAIL = (Field("msgCount", "MessageCount"), Field("msgSeqNo", "MessageSequenceNumeric"), NOTE)  # split reports
OFFICE = Field("customsCode", "DeclarationOfficeID")
BILL = Field("billNo", "TransportDocumentID")  # the master bill (air waybill, bill of lading)
DIRECTION_FLAG = Field("ieFlag", "DirectionCode", Code(DIRECTION))
MODE = Field("trafMode", "BorderTransportMeans/ModeCode", Code(TRANSPORT_MODE, keep_national=True))
# The trader's own number of a list or report and the E-Port's; a clearance list adds customs' number.
REFERENCES = (Field("copNo", "TraderReferenceID"), Field("preNo", "PreEntryID"))
LIST_KEYS = (*REFERENCES, Field("invtNo", "DeclarationID"))
WEIGHTS = (
    Field("grossWeight", "TotalGrossMassMeasure", FixedUnit("KGM")),
    Field("netWeight", "TotalNetMassMeasure", FixedUnit("KGM")),
)
# Goods lines: the declared quantity and the two statutory ones (法定数量, 第二法定数量), each in its own unit.
QUANTITIES = (
    Field("qty", "Quantity", Measure("unit")),
    Field("qty1", "TariffQuantity", Measure("unit1")),
    Field("qty2", "SupplementaryQuantity", Measure("unit2")),
)


def amount(source: str, target: str) -> Field:
    """An amount in the record's one ``currency``."""
    return Field(source, target, Amount("currency"))


PRICES = (amount("price", "UnitPriceAmount"), amount("totalPrice", "ItemChargeAmount"))


def party(prefix: str, role: str) -> tuple[Field, Field]:
    """A CEB party, ``<prefix>Name`` and ``<prefix>Code``, as the canonical ``role/Name`` and ``role/ID``."""
    return Field(f"{prefix}Name", f"{role}/Name"), Field(f"{prefix}Code", f"{role}/ID")


PLATFORM = party("ebp", "Platform")  # the e-commerce platform
SELLER = party("ebc", "Seller")  # the e-commerce enterprise
CARRIER = party("logistics", "Carrier")
DECLARANT = party("agent", "Declarant")
PAYMENT_PROVIDER = party("pay", "PaymentProvider")
SITE_OPERATOR = party("operator", "WarehouseKeeper")  # the operator of the supervised site
WAYBILL = (*CARRIER, Field("logisticsNo", "WaybillID"))  # a parcel: its carrier and waybill number


def transport(name: str = "trafName") -> tuple[Field, ...]:
    """The border means of transport: its name (``trafNo`` in some messages), mode and voyage."""
    return Field(name, "BorderTransportMeans/Name"), MODE, Field("voyageNo", "BorderTransportMeans/JourneyID")


def person(prefix: str, part: str, name: str, id_type: str, id_number: str, telephone: str) -> tuple[Field, ...]:
    """A natural person (buyer, payer): name, optional registration number, identity document, telephone."""
    return (
        Field(name, f"{part}/Name"),
        *((Field(prefix, f"{part}/ID"),) if prefix else ()),
        Field(id_type, f"{part}/IdentityDocument/TypeCode", Code(ID_TYPE)),
        Field(id_number, f"{part}/IdentityDocument/ID"),
        Field(telephone, f"{part}/Communication", Telephone()),
    )


BUYER = person("", "Buyer", "buyerName", "buyerIdType", "buyerIdNumber", "buyerTelephone")
