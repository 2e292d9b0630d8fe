"""Subscriptions: list and filter; create from a preset or a raw query, with a preview of what it
makes; try one on real blocks ("would it have matched"); pause, resume, rename, change
destinations, delete.

Everything goes through the services the API uses (`SubscriptionService.create` builds a preset
with the very code `PresetService.preview` shows), so what the console previews is what the
subscription stores. Row and card actions are htmx fragments of the page's own templates; each
also works as a plain form post, answered with a redirect or the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from api.console.forms import read_form, text, values
from api.console.labels import kinds, struct_pairs
from api.console.render import is_htmx, page
from api.console.session import ViewerDep, safe_next
from api.deps import ChainsDep, DestinationsDep, HistoryDep, PathId, PresetsDep, QueriesDep, SubscriptionsDep
from api.problems import problem_of
from core.dispatch.watches import WatchSummary, summary, told
from core.errors import ServiceError, UserError, ValidationError
from core.models import Destination, Subscription
from core.query.errors import QuerySyntaxError
from core.query.filters import TransferFilter
from core.query.presets import PresetSpec
from core.services.presets import PresetPreview
from core.services.queries import MAX_TEST_HEIGHTS, HeightResult, QueryService, QueryTestRun
from core.services.subscriptions import MAX_QUERIES

_LIST = "subscriptions/list.html"
_NEW = "subscriptions/new.html"
_DETAIL = "subscriptions/detail.html"
_ROW = "subscriptions/_row.html"
_SETTINGS = "subscriptions/_settings.html"
_PREVIEW = "subscriptions/_preview.html"
_CHECK = "subscriptions/_check.html"
_TRY = "subscriptions/_try.html"
_BASE = "/console/subscriptions"

#: A draft's queries text: one query per line, at most this long in all.
MAX_QUERY_TEXT = 20 * 4096

FilterText = Annotated[str | None, Parameter(max_length=100)]


class SubscriptionRow(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as its list row shows it: names of its destinations, when it last fired."""

    sub: Subscription
    destination_names: list[str]
    last_fired: datetime | None
    #: A watch's line ("🛡 cosmosvaloper1…: missed blocks 0.5…90% of window, …") and what it
    #: tells, in the bots' words (core/dispatch/watches.py); None and [] for query subscriptions.
    watch: WatchSummary | None = None
    told: list[str] = []


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """What is wrong with a form, and next to which field it is shown (`field` None: at the top)."""

    field: str | None
    message: str
    caret: str | None = None  # a query's text with a `^` under the error (QuerySyntaxError)
    position: int | None = None  # where in that query (0-based)
    query_number: int | None = None  # which line of the queries text


class Draft(msgspec.Struct, kw_only=True):
    """The create form as posted: a preset with params, or raw queries (one per line)."""

    mode: Literal["preset", "query"]
    name: str
    chain_id: str
    preset: str
    params: dict[str, str]
    queries_text: str
    destination_ids: list[str]
    param_names: list[str] = []  # the chosen preset's parameters, filled in or not

    @classmethod
    def of(cls, form: dict[str, Any], presets: list[PresetSpec]) -> Draft:
        preset = text(form, "preset", 64)
        spec = next((p for p in presets if p.name == preset), None)
        params: dict[str, str] = {}
        if spec is not None:
            for p in spec.params:
                value = text(form, f"param_{p.name}", 1000)
                if value:
                    params[p.name] = value
        return cls(
            mode="query" if text(form, "mode", 10) == "query" else "preset",
            name=text(form, "name", 200),
            chain_id=text(form, "chain_id", 64),
            preset=preset,
            params=params,
            queries_text=text(form, "queries", MAX_QUERY_TEXT),
            destination_ids=values(form, "destination_ids"),
            param_names=[p.name for p in spec.params] if spec is not None else [],
        )

    def query_lines(self) -> list[str]:
        return [line.strip() for line in self.queries_text.splitlines() if line.strip()]


class TryRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which blocks to try a draft or a subscription on: the latest, one height, or a range."""

    at: Literal["latest", "height", "range"]
    height: int | None = None
    height_from: int | None = None
    height_to: int | None = None


class TryOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What trying the queries found: per height (ascending), the scopes any of them matched
    (and the preset's post-filter accepted), or why that block could not be read."""

    chain_id: str
    queries: list[str]
    post_filter: TransferFilter | None
    results: list[HeightResult]
    matched_heights: list[int]

    @property
    def shown(self) -> list[HeightResult]:
        """The heights worth a line: those that matched, or could not be read."""
        return [r for r in self.results if r.matches or r.error]

    @property
    def first(self) -> int:
        return self.results[0].height

    @property
    def last(self) -> int:
        return self.results[-1].height


def _field_error(exc: UserError | ServiceError, draft: Draft | None = None) -> FieldError:
    if isinstance(exc, QuerySyntaxError):
        number = None
        if draft is not None and draft.mode == "query":
            lines = draft.query_lines()
            number = next((i + 1 for i, q in enumerate(lines) if q == exc.query), None)
        return FieldError(
            field="queries", message=exc.reason, caret=exc.caret_lines, position=exc.position, query_number=number
        )
    message = str(exc)
    field = message.partition(":")[0]
    if draft is not None and draft.mode == "preset" and field in draft.param_names:
        return FieldError(field=f"param_{field}", message=message)
    if field in ("name", "destination_ids", "queries", "destinations", "height"):
        return FieldError(field="destinations" if field == "destination_ids" else field, message=message)
    return FieldError(field=None, message=message)


def _rows(
    viewer: ViewerDep, subs: list[Subscription], owned: list[Destination], history: HistoryDep
) -> list[SubscriptionRow]:
    names = {d.id: d.name for d in owned}
    return [
        SubscriptionRow(
            sub=s,
            destination_names=[names.get(d, "(deleted)") for d in s.destination_ids],
            last_fired=history.activity(viewer.account_id, s.id, cap=1).last_fired,
            watch=summary(s.monitor) if s.monitor is not None else None,
            told=told(s.monitor) if s.monitor is not None else [],
        )
        for s in subs
    ]


@get("/subscriptions", sync_to_thread=False)
def subscription_list(
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
    chain: FilterText = None,
    status: Literal["all", "enabled", "paused"] = "all",  # ("state" is a name Litestar reserves)
    q: FilterText = None,
) -> Template:
    enabled = None if status == "all" else status == "enabled"
    found = subscriptions.list(viewer.account_id, chain_id=chain or None, enabled=enabled)
    if q:
        needle = q.casefold()
        found = [s for s in found if needle in s.name.casefold()]
    total = len(subscriptions.list(viewer.account_id))
    return page(
        _LIST,
        viewer,
        section="subscriptions",
        title="Subscriptions",
        rows=_rows(viewer, found, destinations.list(viewer.account_id), history),
        chains=chains.list(),
        chain=chain or "",
        status=status,
        q=q or "",
        total=total,
    )


def _new_page(
    viewer: ViewerDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
    draft: Draft,
    *,
    status_code: int = 200,
    error: FieldError | None = None,
    preview: PresetPreview | None = None,
    checked: list[str] | None = None,
    tried: TryOutcome | None = None,
    try_request: TryRequest | None = None,
) -> Template:
    specs = presets.list()
    spec = next((p for p in specs if p.name == draft.preset), None)
    owned = destinations.list(viewer.account_id)
    return page(
        _NEW,
        viewer,
        section="subscriptions",
        title="New subscription",
        status_code=status_code,
        presets=specs,
        spec=spec,
        chains=chains.list(),
        destinations=owned,
        kinds=kinds(owned),
        draft=draft,
        error=error,
        preview=preview,
        preview_filter=struct_pairs(preview.post_filter) if preview is not None else [],
        checked=checked,
        tried=tried,
        try_request=try_request or TryRequest(at="latest"),
        max_queries=MAX_QUERIES,
        max_heights=MAX_TEST_HEIGHTS,
    )


@get("/subscriptions/new", sync_to_thread=False)
def new_subscription(
    viewer: ViewerDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
    preset: FilterText = None,
    mode: Literal["preset", "query"] = "preset",
    chain_id: FilterText = None,
) -> Template:
    specs = presets.list()
    chosen = preset if preset and any(p.name == preset for p in specs) else (specs[0].name if specs else "")
    chain_ids = [c.id for c in chains.list()]
    owned = destinations.list(viewer.account_id)
    draft = Draft(
        mode=mode,
        name="",
        chain_id=chain_id if chain_id in chain_ids else (chain_ids[0] if chain_ids else ""),
        preset=chosen,
        params={},
        queries_text="",
        destination_ids=[d.id for d in owned if d.enabled],
    )
    return _new_page(viewer, presets, chains, destinations, draft)


@post("/subscriptions/new")
async def create_subscription(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
) -> Response[Any] | Template:
    draft = Draft.of(await read_form(request), presets.list())
    try:
        if not draft.destination_ids:
            raise ValidationError("destinations: tick at least one (add one under Destinations first)")
        sub = await subscriptions.create(
            viewer.account_id,
            chain_id=draft.chain_id,
            name=draft.name,
            queries=draft.query_lines() if draft.mode == "query" else None,
            preset=draft.preset if draft.mode == "preset" else None,
            params=draft.params if draft.mode == "preset" else None,
            destination_ids=draft.destination_ids,
        )
    except UserError as exc:
        problem, _ = problem_of(request, exc)
        return _new_page(
            viewer, presets, chains, destinations, draft, status_code=problem.status, error=_field_error(exc, draft)
        )
    return Redirect(f"{_BASE}/{sub.id}", status_code=303)


@post("/subscriptions/preview")
async def preview_draft(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
) -> Template:
    """What the preset makes from these params for this chain (or the error next to its field)."""
    draft = Draft.of(await read_form(request), presets.list())
    preview, error, status = None, None, 200
    try:
        preview = presets.preview(draft.preset, draft.params, draft.chain_id or None)
    except UserError as exc:
        error, status = _field_error(exc, draft), problem_of(request, exc)[0].status
    if is_htmx(request):
        return page(
            _PREVIEW, viewer, title="Preview", preview=preview, error=error, status_code=status,
            preview_filter=struct_pairs(preview.post_filter) if preview is not None else [],
        )  # fmt: skip
    return _new_page(viewer, presets, chains, destinations, draft, status_code=status, error=error, preview=preview)


@post("/subscriptions/check")
async def check_draft(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
    query_tools: QueriesDep,
) -> Template:
    """The raw queries in canonical form, or the parser's error with a caret under its position."""
    draft = Draft.of(await read_form(request), presets.list())
    draft.mode = "query"
    checked, error, status = None, None, 200
    try:
        lines = draft.query_lines()
        if not lines:
            raise ValidationError("queries: write at least one query")
        if len(lines) > MAX_QUERIES:
            raise ValidationError(f"queries: at most {MAX_QUERIES} queries per subscription")
        checked = [query_tools.check(q) for q in lines]
    except UserError as exc:
        error, status = _field_error(exc, draft), problem_of(request, exc)[0].status
    if is_htmx(request):
        return page(_CHECK, viewer, title="Check", checked=checked, error=error, status_code=status)
    return _new_page(viewer, presets, chains, destinations, draft, status_code=status, error=error, checked=checked)


def _height(form: dict[str, Any], name: str) -> int:
    raw = text(form, name, 20)
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError(f"{name}: a block height (a whole number, at least 1)")
    return int(raw)


def _try_request(form: dict[str, Any]) -> TryRequest:
    at = text(form, "at", 10)
    if at == "height":
        return TryRequest(at="height", height=_height(form, "height"))
    if at == "range":
        return TryRequest(at="range", height_from=_height(form, "height_from"), height_to=_height(form, "height_to"))
    return TryRequest(at="latest")


def _merged(runs: list[QueryTestRun]) -> list[HeightResult]:
    """One result per height from the runs of several queries: a scope any of them matched."""
    by_height: dict[int, HeightResult] = {}
    for run in runs:
        for r in run.results:
            have = by_height.get(r.height)
            if have is None:
                by_height[r.height] = HeightResult(
                    height=r.height, time=r.time, scopes_total=r.scopes_total, matches=list(r.matches), error=r.error
                )
                continue
            seen = {(m.kind, m.index) for m in have.matches}
            have.matches.extend(m for m in r.matches if (m.kind, m.index) not in seen)
            have.matches.sort(key=lambda m: (m.kind == "block", m.index or 0))
    return sorted(by_height.values(), key=lambda r: r.height)


async def _try(
    query_tools: QueryService,
    chain_id: str,
    spec: TryRequest,
    *,
    queries: list[str] | None = None,
    preset: str | None = None,
    params: dict[str, str] | None = None,
) -> TryOutcome:
    """`QueryService.run` on the blocks asked for: once for a preset (its post-filter applied),
    once per query for raw queries (the latest height read once, so all try the same block)."""
    heights: dict[str, Any] = {
        "latest": spec.at == "latest",
        "height": spec.height,
        "height_from": spec.height_from,
        "height_to": spec.height_to,
    }
    if preset is not None:
        run = await query_tools.run(chain_id, preset=preset, params=params or {}, **heights)
        return TryOutcome(
            chain_id=run.chain_id, queries=run.queries, post_filter=run.post_filter,
            results=run.results, matched_heights=run.matched_heights,
        )  # fmt: skip
    if not queries:
        raise ValidationError("queries: write at least one query to try")
    runs = [await query_tools.run(chain_id, query=queries[0], **heights)]
    if spec.at == "latest":
        heights = {"height": runs[0].results[0].height}
    for q in queries[1:]:
        runs.append(await query_tools.run(chain_id, query=q, **heights))
    results = _merged(runs)
    return TryOutcome(
        chain_id=runs[0].chain_id,
        queries=[q for run in runs for q in run.queries],
        post_filter=None,
        results=results,
        matched_heights=[r.height for r in results if r.matches],
    )


@post("/subscriptions/try")
async def try_draft(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    presets: PresetsDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
    query_tools: QueriesDep,
) -> Template:
    """Would the draft have matched: its queries (raw, or the preset's) on a real block."""
    form = await read_form(request)
    draft = Draft.of(form, presets.list())
    tried, error, status, spec = None, None, 200, None
    try:
        spec = _try_request(form)
        if draft.mode == "preset":
            tried = await _try(query_tools, draft.chain_id, spec, preset=draft.preset, params=draft.params)
        else:
            tried = await _try(query_tools, draft.chain_id, spec, queries=draft.query_lines()[:MAX_QUERIES])
    except (UserError, ServiceError) as exc:  # also: the RPC endpoints failed, no fetcher here
        error, status = _field_error(exc, draft), problem_of(request, exc)[0].status
    if is_htmx(request):
        return page(_TRY, viewer, title="Try", tried=tried, error=error, status_code=status)
    return _new_page(
        viewer, presets, chains, destinations, draft, status_code=status, error=error, tried=tried, try_request=spec
    )


# -- one subscription ---------------------------------------------------------------------------------
def _detail(
    viewer: ViewerDep,
    sub: Subscription,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
    *,
    template: str = _DETAIL,
    status_code: int = 200,
    error: FieldError | None = None,
    notice: str | None = None,
    tried: TryOutcome | None = None,
    try_error: FieldError | None = None,
) -> Template:
    activity = history.activity(viewer.account_id, sub.id)
    owned = destinations.list(viewer.account_id)
    return page(
        template,
        viewer,
        section="subscriptions",
        title=sub.name,
        status_code=status_code,
        sub=sub,
        row=_rows(viewer, [sub], owned, history)[0],
        activity=activity,
        destinations=owned,
        chain=next((c for c in chains.list() if c.id == sub.chain_id), None),
        error=error,
        notice=notice,
        tried=tried,
        try_error=try_error,
        try_request=TryRequest(at="latest"),
        max_heights=MAX_TEST_HEIGHTS,
    )


@get("/subscriptions/{subscription_id:str}", sync_to_thread=False)
def subscription_detail(
    subscription_id: PathId,
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
) -> Template:
    sub = subscriptions.get(viewer.account_id, subscription_id)
    return _detail(viewer, sub, subscriptions, destinations, history, chains)


def _back(form: dict[str, Any], fallback: str) -> str:
    return safe_next(text(form, "next", 300) or fallback)


async def _row_action(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscription_id: str,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
    action: Literal["pause", "resume"],
) -> Response[Any] | Template:
    form = await read_form(request)
    if action == "pause":
        sub = await subscriptions.pause(viewer.account_id, subscription_id)
    else:
        sub = await subscriptions.resume(viewer.account_id, subscription_id)
    if not is_htmx(request):
        return Redirect(_back(form, f"{_BASE}/{sub.id}"), status_code=303)
    if text(form, "view", 10) == "detail":
        notice = "Paused: it makes no notifications until resumed." if action == "pause" else "Resumed."
        return _detail(viewer, sub, subscriptions, destinations, history, chains, template=_SETTINGS, notice=notice)
    owned = destinations.list(viewer.account_id)
    return page(_ROW, viewer, title=sub.name, row=_rows(viewer, [sub], owned, history)[0])


@post("/subscriptions/{subscription_id:str}/pause")
async def pause_subscription(
    subscription_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
) -> Response[Any] | Template:
    return await _row_action(request, viewer, subscription_id, subscriptions, destinations, history, chains, "pause")


@post("/subscriptions/{subscription_id:str}/resume")
async def resume_subscription(
    subscription_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
) -> Response[Any] | Template:
    return await _row_action(request, viewer, subscription_id, subscriptions, destinations, history, chains, "resume")


@post("/subscriptions/{subscription_id:str}/settings")
async def change_subscription(
    subscription_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
) -> Response[Any] | Template:
    """Rename it and choose its destinations (one form; a bad field leaves it as it was)."""
    form = await read_form(request)
    sub = subscriptions.get(viewer.account_id, subscription_id)
    try:
        chosen = values(form, "destination_ids")
        if not chosen:
            raise ValidationError("destinations: tick at least one; to stop notifications, pause it instead")
        sub = await subscriptions.update(
            viewer.account_id, subscription_id, name=text(form, "name", 200), destination_ids=chosen
        )
    except UserError as exc:
        problem, _ = problem_of(request, exc)
        template = _SETTINGS if is_htmx(request) else _DETAIL
        return _detail(
            viewer, sub, subscriptions, destinations, history, chains,
            template=template, status_code=problem.status, error=_field_error(exc),
        )  # fmt: skip
    if not is_htmx(request):
        return Redirect(f"{_BASE}/{sub.id}", status_code=303)
    return _detail(viewer, sub, subscriptions, destinations, history, chains, template=_SETTINGS, notice="Saved.")


@post("/subscriptions/{subscription_id:str}/delete")
async def delete_subscription(
    subscription_id: PathId, request: Request[Any, Any, Any], viewer: ViewerDep, subscriptions: SubscriptionsDep
) -> Response[Any]:
    """Gone (its notifications stay in the history). An htmx row is replaced by nothing; a
    detail page (or a plain post) goes to the list."""
    form = await read_form(request)
    await subscriptions.delete(viewer.account_id, subscription_id)
    if is_htmx(request) and text(form, "view", 10) != "detail":
        return Response(content="", status_code=200, media_type="text/html")
    if is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": _BASE})
    return Redirect(_BASE, status_code=303)


@post("/subscriptions/{subscription_id:str}/try")
async def try_subscription(
    subscription_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    subscriptions: SubscriptionsDep,
    destinations: DestinationsDep,
    history: HistoryDep,
    chains: ChainsDep,
    query_tools: QueriesDep,
) -> Template:
    """Would this subscription have matched on a given block."""
    form = await read_form(request)
    sub = subscriptions.get(viewer.account_id, subscription_id)
    tried, error, status = None, None, 200
    try:
        spec = _try_request(form)
        if sub.preset is not None:
            tried = await _try(query_tools, sub.chain_id, spec, preset=sub.preset, params=sub.params)
        else:
            tried = await _try(query_tools, sub.chain_id, spec, queries=sub.queries)
    except (UserError, ServiceError) as exc:  # also: the RPC endpoints failed, no fetcher here
        error, status = _field_error(exc), problem_of(request, exc)[0].status
    if is_htmx(request):
        return page(_TRY, viewer, title="Try", tried=tried, error=error, status_code=status)
    return _detail(
        viewer, sub, subscriptions, destinations, history, chains, status_code=status, tried=tried, try_error=error
    )


HANDLERS = [
    subscription_list,
    new_subscription,
    create_subscription,
    preview_draft,
    check_draft,
    try_draft,
    subscription_detail,
    pause_subscription,
    resume_subscription,
    change_subscription,
    delete_subscription,
    try_subscription,
]
