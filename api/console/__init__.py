"""The web console at `/console`: server-rendered pages over the same core services as the API.

Pages are Jinja2 templates rendered by Litestar; htmx 2 (vendored, api/static/vendor/) swaps
parts of them in place, and its SSE extension shows new notifications live. Nothing is loaded
from another host, and no inline script runs: the pages' Content-Security-Policy allows this
origin only.

- `router.py`: the `/console` router: its own request hook (forms, not JSON) and error pages;
- `session.py`: who is looking (the API's session cookie), or a redirect to the login page;
- `forms.py`: CSRF tokens for every form, and reading a form into a dict;
- `render.py`: the context every page shares (the viewer, the token, the navigation);
- `pages/`: one module per section, each with its `HANDLERS`; `templates/`, `static/` beside them.
"""

from api.console.router import console_router

__all__ = ["console_router"]
