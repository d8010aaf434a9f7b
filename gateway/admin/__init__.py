"""Operator actions, shared by the admin API (``gateway.admin.api``) and the command line.

    partners.py   validated, audited changes to partner files (PartnerAdmin), certificate expiry lines
    messages.py   operator retry of failed deliveries
    ping.py       connectivity check of a partner's inbox
    views.py      typed views of partners, messages and traffic (what the API and the CLI show)
    api.py        the admin HTTP routes (bearer token), controls.py the controls' routes, probes.py
                  health, readiness and metrics

Nothing here imports the runtime: the runtime (``gateway.runtime``) hands in its store, publisher and partners.
"""
