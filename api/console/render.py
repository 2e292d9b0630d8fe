"""What every console page shares: the viewer, the form token, the navigation, the asset URLs."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from api.console.session import Viewer
from api.docs import VENDOR_PATH

HTMX_JS = f"{VENDOR_PATH}/htmx-2.0.11/htmx.min.js"
HTMX_SSE_JS = f"{VENDOR_PATH}/htmx-ext-sse-2.2.4/sse.min.js"
STATIC = "/console/static"

#: The sections in the header, in order: (key, label, path).
NAVIGATION = (
    ("overview", "Overview", "/console"),
    ("subscriptions", "Subscriptions", "/console/subscriptions"),
    ("destinations", "Destinations", "/console/destinations"),
    ("history", "History", "/console/history"),
    ("dead-letters", "Dead letters", "/console/dead-letters"),
    ("api-keys", "API keys", "/console/api-keys"),
    ("link", "Link bots", "/console/link"),
)


def page(
    template: str,
    viewer: Viewer | None,
    *,
    section: str | None = None,
    title: str,
    csrf_token: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A whole page (or, for a template that is a fragment, the fragment) with the shared context."""
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "viewer": viewer,
            "csrf_token": viewer.csrf_token if viewer is not None else csrf_token,
            "section": section,
            "title": title,
            "navigation": NAVIGATION,
            "htmx_js": HTMX_JS,
            "htmx_sse_js": HTMX_SSE_JS,
            "static": STATIC,
            **context,
        },
    )


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An htmx request wants a fragment of the page; a plain one the page (or a redirect)."""
    return request.headers.get("hx-request") == "true"
