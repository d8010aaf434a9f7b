"""Cross-border e-commerce controls on the messages the gateway carries (issue 7).

    facts       canonical Order / Payment / Logistics / Inventory / Declaration -> plain frozen records
    matching    three-list matching: pure rules comparing an inventory with its order, payment and waybill
    monitoring  consignments of every channel (CBEC, post, express, cargo) in one view, and the query over it
    rules       risk rule files (rules/*.toml): loading, validation, reloading, evaluation
    alerts      a fired rule -> one canonical RiskAlert envelope, its receivers
    service     the hook in the ingress flow: hold, release or reject inventories; record lists and
                consignments; raise alerts; expire and prune (the only module that publishes)

Everything reads the canonical payloads only, never a partner format, so a new partner format (CEB today)
joins the controls by mapping to the canonical form. State lives in :mod:`gateway.controls.store` (SQLite or
PostgreSQL).
"""
