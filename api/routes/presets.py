"""Presets (public, like /v1/chains): what each asks for, and the queries it would build.

Neither route reads or writes an account's data: the list is the code's, and a preview is a pure
function of the preset, the params and the chain's configuration, like `/v1/queries/check`.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.params import JSONBody, PathParameter

from api.deps import PresetsDep
from api.pagination import PresetPage
from api.problems import problems
from api.schemas import PresetOut, PresetPreviewOut, PresetPreviewRequest, preset_params

TAGS = ["presets"]

#: A preset name in a path: names are short identifiers.
PresetName = Annotated[str, PathParameter(min_length=1, max_length=64)]


@get("/v1/presets", tags=TAGS)
async def list_presets(presets: PresetsDep) -> PresetPage:
    """Every preset, in one page: name, title, description and typed parameters."""
    return PresetPage(items=[PresetOut.of(p) for p in presets.list()], next_cursor=None)


@post("/v1/presets/{preset_name:str}/preview", tags=TAGS, status_code=200, responses=problems(404, 422))
async def preview_preset(
    preset_name: PresetName, data: JSONBody[PresetPreviewRequest], presets: PresetsDep
) -> PresetPreviewOut:
    """The queries and post-filter `POST /v1/subscriptions` would build from this preset and `params`
    (for `chain_id`: its prefix and denoms); a 422 problem names the bad parameter, 404 an unknown preset."""
    preview = presets.preview(preset_name, preset_params(data.params) or {}, data.chain_id)
    return PresetPreviewOut(
        preset=preview.preset,
        chain_id=preview.chain_id,
        queries=preview.queries,
        post_filter=preview.post_filter,
        monitor=preview.monitor,
    )


HANDLERS = [list_presets, preview_preset]
