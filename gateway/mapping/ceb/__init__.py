"""GACC CEB 2022-05 business messages <-> canonical CBEC payloads, as field tables.

One :class:`Kind` per CEB message the gateway maps, made from its table entry (:func:`kind.message`) in the
module of its family; the code that reads, renders and answers them is shared and driven by the kinds:

    codes              CEB code lists, China time, record guids
    fields             the field groups the tables share (header, parties, list keys, transport, goods)
    kind               Kind and Part: one message, its CEB field sequences (as in the GACC XSD) and tables
    orders             CEB311/303 orders                          receipts CEB312/304
    payments           CEB411 payment voucher, CEB403 receipt      CEB412/404
    waybills           CEB511/505 waybills, CEB513 status          CEB512/506/514
    inventories        CEB621/603 clearance lists                  CEB622/604
    inventory_requests CEB623/605 cancellations, 625/213 returns   CEB624/606/626/214
    warehouse_entries  CEB711 warehouse entry list                 CEB712
    cargo_reports      CEB507/607/509 export cargo reports, 215    CEB508/608/510/216
    summaries          CEB701 summary application, 792 result      CEB702 (792: none, CEB900)
    tax                CEB816/818 tax bills                        none (CEB900)
    registry           KINDS by root, and the kind of a message, a receipt, a canonical payload
    flat               a flat CEB record read and written in XSD order
    reading            CEB -> canonical (and when a message was made, the business key it opens or follows)
    rendering          canonical -> CEB, naming every value CEB cannot carry
    receipts           CEB receipts from a partner <-> canonical receipts

Adding a CEB message is a table entry: its field table(s) and one ``message(...)`` in its family's ``KINDS``.

Not carried into the canonical form, because they describe the transmission and not the business data:
the root's ``version``, ``BaseTransfer`` (the transmitting enterprise and its DXP id), ``BaseSubscribe``
(receipt subscriptions), ``ExtendMessage`` (free extension) and the signature. Rendering CEB, the gateway
writes its own ``BaseTransfer`` (:class:`Transfer`) and its own message id as the root ``guid``.

What the CEB messages cannot carry of the canonical records (rendering them is a ``mapping-failed`` that names
each such value; :func:`from_canonical_payload` returns them as :class:`~gateway.mapping.records.Loss`):

    all        the envelope's MessageID, Sender, Receiver, CorrelationID; more than 100 records or 99 goods
               lines; amounts of one record in different currencies; weights in other units than KGM;
               telephone numbers other than TE; times with fractions of a second; codes without a China
               customs equivalent (e.g. transport mode 6 multimodal or 8 inland water)
    CEB311     BusinessModelCode; Consignee/ID, Address/CityName, CountryCode, PostcodeID; goods item
               ItemRecordID, Description, Classification (HS code), TradeCountryCode, TariffQuantity,
               SupplementaryQuantity
    CEB303     as CEB311, and DiscountAmount, WithheldTaxAmount, PaymentAmount, Buyer, PaymentProvider,
               PaymentTransactionID, BatchID, Consignee; goods item Specification, OriginCountryCode
    CEB411     BusinessModelCode
    CEB511     BusinessModelCode; Consignee/ID, Address/CityName, CountryCode, CountrySubDivisionCode,
               PostcodeID
    CEB621     Buyer/ID; Consignee/Name, ID, Communication and Address other than Line;
               BorderTransportMeans/ID, RegistrationNationalityCode; goods item ItemDescription
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import CEB_NS, CHINA, RETURN_TIME, TIME, C, guid_for
from gateway.mapping.ceb.flat import fields_of
from gateway.mapping.ceb.kind import EXPORT, IMPORT, MAX_LINES, MAX_RECORDS, Kind, Part, message
from gateway.mapping.ceb.reading import business_key, head_of, heads, issued, records, to_canonical_payload
from gateway.mapping.ceb.receipts import RECEIPT_STATUS, REFUSED, answered_record, receipt_table, receipt_to_canonical
from gateway.mapping.ceb.registry import KINDS, RECEIPTS, kind_for, kind_of, receipt_kind_of
from gateway.mapping.ceb.rendering import DEFAULTS, Transfer, from_canonical_payload, raise_if_lossy

__all__ = [
    "CEB_NS",
    "CHINA",
    "DEFAULTS",
    "EXPORT",
    "IMPORT",
    "KINDS",
    "MAX_LINES",
    "MAX_RECORDS",
    "RECEIPTS",
    "RECEIPT_STATUS",
    "REFUSED",
    "RETURN_TIME",
    "TIME",
    "C",
    "Kind",
    "Part",
    "Transfer",
    "answered_record",
    "business_key",
    "fields_of",
    "from_canonical_payload",
    "guid_for",
    "head_of",
    "heads",
    "issued",
    "kind_for",
    "kind_of",
    "message",
    "raise_if_lossy",
    "receipt_kind_of",
    "receipt_table",
    "receipt_to_canonical",
    "records",
    "to_canonical_payload",
]
