"""The overview: each chain's height, lag and state; failing destinations; dead letters; the
newest notifications, with new ones added live."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from api.console.render import page
from api.console.session import ViewerDep
from api.deps import ChainsDep, DestinationsDep, HistoryDep

#: Dead letters counted on the overview; past this it says "200+" (the list pages through all).
DEAD_LETTERS_COUNTED = 200
RECENT = 10


@get("/", sync_to_thread=False)
def overview(viewer: ViewerDep, chains: ChainsDep, destinations: DestinationsDep, history: HistoryDep) -> Template:
    owned = destinations.list(viewer.account_id)
    failing = [d for d in owned if d.failing_since is not None or not d.enabled]
    dead = history.dead_letters(viewer.account_id, limit=DEAD_LETTERS_COUNTED)
    recent = history.notifications(viewer.account_id, limit=RECENT)
    return page(
        "overview.html",
        viewer,
        section="overview",
        title="Overview",
        chains=chains.list(),
        destinations=owned,
        failing=failing,
        dead_letters=len(dead.items),
        dead_letters_more=dead.next_cursor is not None,
        recent=recent.items,
        row_outcomes={n.id: history.outcome_of(n) for n in recent.items},
    )


HANDLERS = [overview]
