"""The JSON-RPC envelope CometBFT wraps every answer in, and the meaning of its error texts.

CometBFT reports "no such height" as a generic `-32603 Internal error` whose `data` carries the
reason as English text (rpc/core/env.go `getHeight`, state store `LoadABCIResponses`). The texts
below were checked against CometBFT v0.34..v1.x and are stable across those versions:

- `height 5 is not available, lowest height is 100`                (pruned block store)
- `height 900 must be less than or equal to the current blockchain height 800`   (above the tip)
- `could not find results for height #5`                           (ABCI results missing)
- `node is not persisting abci responses` / `... finalize block responses`   (results discarded)
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import Struct

from core.chain.errors import HeightNotAvailable, RpcCallError, RpcError

_LOWEST = re.compile(r"is not available, lowest height is (\d+)")
_ABOVE_TIP = re.compile(r"must be less than or equal to the current blockchain height(?:\s+(\d+))?")
_MISSING = ("could not find results for height", "is not persisting")

#: The JSON-RPC code CometBFT uses for every handler failure.
INTERNAL_ERROR = -32603


class JsonRpcErrorBody(Struct):
    code: int = 0
    message: str = ""
    data: Any = None

    def text(self) -> str:
        """message and data joined: the reason is in `data`, but forks sometimes put it in `message`."""
        data = "" if self.data is None else str(self.data)
        return f"{self.message}: {data}" if data else self.message


def classify_error(err: JsonRpcErrorBody, *, height: int | None = None, endpoint: str | None = None) -> RpcError:
    """Turn a JSON-RPC error into the precise exception the caller acts on."""
    text = err.text()
    if m := _LOWEST.search(text):
        return HeightNotAvailable(text, height=height, lowest=int(m.group(1)), endpoint=endpoint)
    if m := _ABOVE_TIP.search(text):
        latest = int(m.group(1)) if m.group(1) else (height - 1 if height else 0)
        return HeightNotAvailable(text, height=height, latest=latest, endpoint=endpoint)
    if any(marker in text for marker in _MISSING):
        return HeightNotAvailable(text, height=height, endpoint=endpoint)
    data = None if err.data is None else str(err.data)
    return RpcCallError(text, code=err.code, data=data, endpoint=endpoint)


def pruned_error(height: int, lowest: int) -> dict[str, Any]:
    """The exact error object a CometBFT node returns for a pruned height (used by the devnet)."""
    return {
        "code": INTERNAL_ERROR,
        "message": "Internal error",
        "data": f"height {height} is not available, lowest height is {lowest}",
    }


def above_tip_error(height: int, latest: int) -> dict[str, Any]:
    """The exact error object a CometBFT node returns for a height above its tip."""
    return {
        "code": INTERNAL_ERROR,
        "message": "Internal error",
        "data": f"height {height} must be less than or equal to the current blockchain height {latest}",
    }
