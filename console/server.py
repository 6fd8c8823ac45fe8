"""ASGI middleware for serve.py: page deep links that probe no wrong address (no 404s in the browser).

Streamlit's frontend finds its server by probing the page's own path first: a deep link such as
/violations asks /violations/_stcore/health and /violations/_stcore/host-config (two 404s), then
/_stcore/health. Its documented hook for embedding hosts, `window.__streamlit.BACKEND_BASE_URL`,
names the server's root instead; `IndexWithBase` serves Streamlit's own index.html with that one
line added, for the console's page addresses only. Everything else passes through untouched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit
from starlette.types import ASGIApp, Receive, Scope, Send

from console.nav import PAGES

# "./" resolves to the server's root from a one-segment page address (and under server.baseUrlPath).
BASE_SCRIPT = b'<script>window.__streamlit = {BACKEND_BASE_URL: new URL("./", document.baseURI).href};</script>'


@cache
def index_html() -> bytes:
    html = (Path(streamlit.__file__).parent / "static" / "index.html").read_bytes()
    head = html.index(b"<head>") + len(b"<head>")
    return html[:head] + BASE_SCRIPT + html[head:]


def page_paths() -> frozenset[str]:
    return frozenset({"/", *(f"/{p.url_path}" for p in PAGES)})


class IndexWithBase:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pages = page_paths()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] in self.pages:
            body = index_html()
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-cache"),
                       (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
            return
        await self.app(scope, receive, send)
