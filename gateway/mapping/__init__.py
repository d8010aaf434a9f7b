"""Pure mapping between partner formats and the canonical payloads: code lists and field tables.

Nothing here does I/O or knows about envelopes, signatures or transports: functions take element trees and
return element trees (or raise :class:`~gateway.errors.MappingFailed` naming the field and the value).

    codes      China customs code lists <-> ISO / UN/ECE codes (tables in code)
    records    a flat partner record <-> a nested canonical record, driven by a field table
    ceb        the GACC CEB 2022-05 messages as field tables, one module per message family (orders,
               payments, waybills, inventories ...) and the shared code that reads, renders and answers them
    ceb_receipt  the gateway's CEB receipts (CEB312/412/512/622 ..., CEB900) and the spec's chapter 7 codes
    structure  what a schema allows where (element paths, order, attributes), read from the local XSDs
    wco_dms    HMRC CDS WCO DM 3.6 DEC-DMS declarations, path for path with the canonical Declaration
    dms_receipt  RES-DMS notifications (DMSRCV, DMSREJ) <-> canonical receipts
    ics_groups   EU ICS data groups <-> canonical elements (the table-driven engine)
    ics_ens    EU ICS CC315A entry summary declarations and CC351A intervention notifications, as group tables
    ics_receipt  the HMRC ICS API responses (SuccessResponse, ErrorResponse) as the gateway's ICS receipts
"""
