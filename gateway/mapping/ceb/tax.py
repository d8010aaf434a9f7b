"""Tax bills, customs -> the trader's side: CEB816 <-> ``tax-assessment``, CEB818 <-> ``tax-payment``.

    CEB816 tax bill           <-> TaxAssessment/TaxBill       (no CEB receipt: CEB900)
    CEB818 tax bill status    <-> TaxPayment/TaxBill          (no CEB receipt: CEB900)

CEB816 electronic tax bill (电子税单, spec 3.17, table 3-59) and CEB818 tax bill status (3.18, table 3-62). Duties on
WCO DutyTaxFee (50A): customs duty, VAT and consumption tax as UN/EDIFACT 5153 duty/tax/fee types CUD, VAT and EXC
(China's 消费税 is an excise), each assessed amount a Payment/TaxAssessedAmount (120) in CNY (the bill has no
currency field: amounts in RMB).
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import RETURN_TIME, TAX_STATUS
from gateway.mapping.ceb.fields import GUID, NOTE, OFFICE
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Code, DutyTaxFee, Field, FixedCurrency, Table

_DUTIES = tuple(
    Field(name, f"DutyTaxFee[TypeCode='{code}']", DutyTaxFee(code))
    for name, code in (("customsTax", "CUD"), ("valueAddedTax", "VAT"), ("consumptionTax", "EXC"))
)
HEAD = Table((
    GUID,
    Field("returnTime", "IssueDateTime", RETURN_TIME),
    Field("invtNo", "DeclarationID"),
    Field("taxNo", "TaxBillID"),
    Field("status", "StatusCode", Code(TAX_STATUS)),
    OFFICE,
    Field("ebcCode", "Seller/ID"),
    Field("logisticsCode", "Carrier/ID"),
    Field("agentCode", "Declarant/ID"),
    Field("assureCode", "Surety/ID"),
    Field("entDutyNo", "Payment/ReferenceID"),
    *_DUTIES,
    NOTE,
))  # fmt: skip
LINE = Table((
    Field("gnum", "SequenceNumeric"),
    Field("gcode", "Classification/ID"),
    Field("taxPrice", "AdValoremTaxBaseAmount", FixedCurrency("CNY")),
    *_DUTIES,
))  # fmt: skip

KEY = ("tax", "taxNo")

KINDS = (
    message(
        "CEB816Message", "tax-assessment", "TaxBill", "Tax",
        Part("TaxHeadRd", "guid returnTime invtNo taxNo customsTax valueAddedTax consumptionTax status entDutyNo? "
             "note? assureCode? ebcCode? logisticsCode? agentCode? customsCode?", HEAD),
        Part("TaxListRd", "gnum gcode taxPrice customsTax valueAddedTax consumptionTax", LINE),
        direction="IM", receipt=None, key=KEY, time_field="returnTime", transfer=False, max_records=None,
    ),
    message(
        "CEB818Message", "tax-payment", "TaxBill", "Tax",
        Part("TaxHeadStatus", "guid returnTime invtNo taxNo status entDutyNo? assureCode?", HEAD),
        direction="IM", receipt=None, key=KEY, follows=True, time_field="returnTime", transfer=False,
        max_records=None,
    ),
)  # fmt: skip
