"""Pure mapping between partner formats and the canonical payloads: code lists and field tables.

Nothing here does I/O or knows about envelopes, signatures or transports: functions take element trees and
return element trees (or raise :class:`~gateway.errors.MappingFailed` naming the field and the value).

    codes      China customs code lists <-> ISO / UN/ECE codes (tables in code)
    records    a flat partner record <-> a nested canonical record, driven by a field table
    ceb        the GACC CEB 2022-05 messages (orders, payments, waybills, inventories) as field tables
    ceb_receipt  CEB receipts (CEB312/412/512/622, CEB900) and the spec's chapter 7 error codes
"""
