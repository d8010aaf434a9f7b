"""The web console: one static page over the admin API (no build step, no server-side state).

The page itself holds no data and needs no token; every figure it shows comes from ``/v1/admin/*`` with the
token the operator typed, kept in the tab's ``sessionStorage`` only. All data is inserted as text, never as
markup, and the content security policy allows only the console's own script and style.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

_FILES = {
    "index.html": "text/html",
    "console.js": "text/javascript",
    "console.css": "text/css",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


async def page(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or "index.html"
    kind = _FILES.get(name)
    if kind is None:
        raise web.HTTPNotFound(text=f"no console file {name!r}")
    return web.Response(body=_asset(name), content_type=kind, charset="utf-8", headers=_HEADERS)


async def to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console", to_console)
    app.router.add_get("/console/", page)
    app.router.add_get("/console/{name}", page)
