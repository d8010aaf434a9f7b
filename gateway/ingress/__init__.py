"""Ingress: bytes in, receipt out. ``pipeline`` is the network-free core; ``handlers`` the aiohttp side."""
