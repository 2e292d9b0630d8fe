"""The devnet's HTTP/websocket face: CometBFT JSON-RPC on loopback, with faults.

Routes (same shapes as a CometBFT node, see docs/DEVNET.md):
  GET  /status, /block?height=H, /block_results?height=H, /validators?height=H&page=P&per_page=N
       (URI form; errors are HTTP 500)
  POST /     {"jsonrpc":"2.0","id":1,"method":"block_results","params":{"height":"H"}}  (or a batch)
  GET  /websocket   JSON-RPC over websocket: subscribe / unsubscribe / unsubscribe_all
  GET  /cosmos/...  the Cosmos REST query paths of mempools/devnet/rest.py
  POST /devnet/inject, /devnet/advance, /devnet/warp, /devnet/validators/{action},
       /devnet/gov/proposals, /devnet/gov/votes; GET /devnet/validators; GET|POST /devnet/faults
       (control, never faulted)

Responses are assembled from per-height cached JSON bytes, so serving a height twice costs a
dictionary lookup and a concatenation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from core.chain.jsonrpc import INTERNAL_ERROR, above_tip_error, pruned_error
from core.errors import ValidationError
from mempools.devnet.chain import DevnetChain
from mempools.devnet.faults import Faults
from mempools.devnet.rest import DevnetRest, grpc_error
from mempools.web import serve_app

#: The node's own ed25519 consensus key, as CometBFT's `/status` shows it: the public key of the
#: seed sha256("mempools-devnet validator 0") (computed once with Node's crypto; a real point on
#: the curve, so clients that decode it accept it), and its address, sha256(key)[:20] in hex.
NODE_VALIDATOR_PUBKEY = "i8yUYWwI5sF04Sem+r5kQcLBvZtVf00i3Wwh4Gcg4yg="
NODE_VALIDATOR_ADDRESS = "98B49E1AEE646BDAC9A4255D47104881AD1DA5E6"

log = logging.getLogger(__name__)

_NEWBLOCK_QUERY = re.compile(r"^\s*tm\.event\s*=\s*'NewBlock'\s*$")
_WS_BUFFER = 200  # CometBFT's default per-subscription buffer
_JSON = "application/json"


class _RpcFault(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("data"))
        self.error = error


@dataclass(eq=False)
class _WsClient:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[int] = field(default_factory=lambda: asyncio.Queue(_WS_BUFFER))
    subs: dict[str, Any] = field(default_factory=dict)  # query -> JSON-RPC id


class DevnetServer:
    """Serve a `DevnetChain` on loopback. Use as `async with DevnetServer(chain) as server:`.

    `port=0` picks a free port (see `.url` after start). The clock task advances the chain every
    `block_time` seconds unless `run_clock=False` or `block_time == 0` (then only `advance()`,
    `POST /devnet/advance` or `on_demand` make blocks). With `on_demand=True`, every `/status`
    makes one new block first, so a poller always sees a fresh tip: handy for benchmarks.
    """

    def __init__(
        self,
        chain: DevnetChain | None = None,
        *,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        run_clock: bool = True,
        on_demand: bool = False,
        fault_seed: int | None = None,
    ) -> None:
        self.chain = chain or DevnetChain()
        self.faults = faults or Faults()
        self.host = host
        self.port = port
        self.run_clock = run_clock
        self.on_demand = on_demand
        self._rng = random.Random(self.chain.config.seed if fault_seed is None else fault_seed)
        self._runner: web.AppRunner | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._clients: set[_WsClient] = set()
        self._rest = DevnetRest(self.chain)
        self.requests = 0

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/websocket"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/status", self._get_status)
        app.router.add_get("/block", self._get_block)
        app.router.add_get("/block_results", self._get_block_results)
        app.router.add_get("/validators", self._get_validators)
        app.router.add_get("/cosmos/{tail:.*}", self._get_rest)
        app.router.add_post("/", self._post_jsonrpc)
        app.router.add_get("/websocket", self._websocket)
        app.router.add_post("/devnet/inject", self._inject)
        app.router.add_post("/devnet/advance", self._advance)
        app.router.add_get("/devnet/faults", self._get_faults)
        app.router.add_post("/devnet/faults", self._set_faults)
        app.router.add_post("/devnet/warp", self._warp)
        app.router.add_get("/devnet/validators", self._list_validators)
        app.router.add_post("/devnet/validators/{action}", self._validator_action)
        app.router.add_post("/devnet/gov/proposals", self._submit_proposal)
        app.router.add_post("/devnet/gov/votes", self._vote)
        return app

    async def start(self) -> str:
        self._closing.clear()
        self._runner, self.port = await serve_app(
            self.build_app(), self.host, self.port, shutdown_timeout=1.0, handler_cancellation=True
        )
        self.chain.add_listener(self._on_new_block)
        if self.run_clock and self.chain.config.block_time > 0:
            self._clock_task = asyncio.create_task(self._clock(), name="devnet-clock")
        return self.url

    async def stop(self) -> None:
        self._closing.set()
        self.chain.remove_listener(self._on_new_block)
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DevnetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _clock(self) -> None:
        """Advance the chain at the block time, without drift accumulating."""
        loop = asyncio.get_running_loop()
        interval = self.chain.config.block_time
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
            self.chain.advance()

    # -- control API (in-process) --------------------------------------------------------------

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault knobs while running, e.g. `server.set_faults(error_rate=0.5, lag=3)`."""
        self.faults = msgspec.structs.replace(self.faults, **changes)
        return self.faults

    def advance(self, n: int = 1) -> int:
        return self.chain.advance(n)

    @property
    def subscriptions(self) -> int:
        """How many websocket subscriptions are live (tests wait for this before advancing)."""
        return sum(len(client.subs) for client in self._clients)

    @property
    def visible_tip(self) -> int:
        return max(1, self.chain.tip - self.faults.lag)

    @property
    def earliest(self) -> int:
        return max(1, self.faults.prune_below)

    @property
    def chain_id(self) -> str:
        return self.faults.wrong_chain_id or self.chain.config.chain_id

    # -- RPC methods (result bytes, or _RpcFault) -------------------------------------------

    def _status_obj(self) -> dict[str, Any]:
        if self.on_demand:
            self.chain.advance()
        tip, earliest, chain = self.visible_tip, self.earliest, self.chain
        return {
            "node_info": {
                "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
                "id": "de5e7de5e7de5e7de5e7de5e7de5e7de5e7de5e7",
                "listen_addr": "tcp://127.0.0.1:26656",
                "network": self.chain_id,
                "version": "0.38.12",
                "channels": "40202122233038606100",
                "moniker": "mempools-devnet",
                "other": {"tx_index": "on", "rpc_address": f"tcp://{self.host}:{self.port}"},
            },
            "sync_info": {
                "latest_block_hash": chain.block_id(tip)["hash"],
                "latest_app_hash": chain.app_hash(tip),
                "latest_block_height": str(tip),
                "latest_block_time": chain.time_of(tip),
                "earliest_block_hash": chain.block_id(earliest)["hash"],
                "earliest_app_hash": chain.app_hash(earliest),
                "earliest_block_height": str(earliest),
                "earliest_block_time": chain.time_of(earliest),
                "catching_up": False,
            },
            "validator_info": {  # CosmJS's status() refuses an empty key (a non-validator node shows its own too)
                "address": NODE_VALIDATOR_ADDRESS,
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": NODE_VALIDATOR_PUBKEY},
                "voting_power": "0",
            },
        }

    def _validators_obj(self, params: dict[str, Any]) -> bytes:
        """CometBFT's `/validators`: the set of a height, paged (per_page 1..100, default 30)."""
        height = self._resolve(params.get("height"), results=False)
        members = self.chain.staking.set_at(height).members
        try:
            per_page = int(str(params.get("per_page") or 30).strip('"'))
            page_raw = params.get("page")
            page = int(str(page_raw).strip('"')) if page_raw not in (None, "") else 1
        except ValueError:
            raise _RpcFault(
                {"code": -32602, "message": "Invalid params", "data": "error converting http params to arguments"}
            ) from None
        per_page = 30 if per_page < 1 else min(per_page, 100)
        pages = max(1, (len(members) - 1) // per_page + 1)
        if page < 1 or page > pages:
            raise _RpcFault(
                {
                    "code": INTERNAL_ERROR,
                    "message": "Internal error",
                    "data": f"page should be within [1, {pages}] range, given {page}",
                }
            )
        chunk = members[(page - 1) * per_page : page * per_page]
        return msgspec.json.encode(
            {
                "block_height": str(height),
                "validators": [
                    {
                        "address": m.hex,
                        "pub_key": {"type": "tendermint/PubKeyEd25519", "value": m.pub_key},
                        "voting_power": str(m.power),
                        "proposer_priority": "0",
                    }
                    for m in chunk
                ],
                "count": str(len(chunk)),
                "total": str(len(members)),
            }
        )

    def _resolve(self, raw: Any, *, results: bool = True) -> int:
        tip = self.visible_tip
        if raw is None or raw == "":
            return tip
        try:
            height = int(str(raw).strip('"'))
        except ValueError:
            raise _RpcFault(
                {
                    "code": -32602,
                    "message": "Invalid params",
                    "data": f"error converting http params to arguments: invalid height {raw!r}",
                }
            ) from None
        if height <= 0:
            raise _RpcFault(
                {
                    "code": INTERNAL_ERROR,
                    "message": "Internal error",
                    "data": f"height must be greater than 0, but got {height}",
                }
            )
        if height > tip:
            raise _RpcFault(above_tip_error(height, tip))
        if height < self.earliest:
            raise _RpcFault(pruned_error(height, self.earliest))
        if results and height in self.faults.missing_heights:
            raise _RpcFault(
                {
                    "code": INTERNAL_ERROR,
                    "message": "Internal error",
                    "data": f"could not find results for height #{height}",
                }
            )
        return height

    def _call(self, method: str, params: dict[str, Any]) -> bytes:
        if method == "status":
            return msgspec.json.encode(self._status_obj())
        if method == "block":
            h = self._resolve(params.get("height"))
            return self.chain.block_json(h, self.faults.wrong_chain_id)
        if method == "block_results":
            h = self._resolve(params.get("height"))
            return self.chain.block_results_json(h)
        if method == "validators":
            return self._validators_obj(params)
        raise _RpcFault({"code": -32601, "message": "Method not found", "data": ""})

    # -- HTTP plumbing -------------------------------------------------------------------------

    @staticmethod
    def _envelope(rpc_id: bytes, result: bytes) -> bytes:
        return b'{"jsonrpc":"2.0","id":' + rpc_id + b',"result":' + result + b"}"

    @staticmethod
    def _error_envelope(rpc_id: bytes, error: dict[str, Any]) -> bytes:
        return b'{"jsonrpc":"2.0","id":' + rpc_id + b',"error":' + msgspec.json.encode(error) + b"}"

    async def _faulted(self, make: Any) -> web.StreamResponse:
        """Apply latency / 5xx / hang / truncation around producing an RPC answer."""
        self.requests += 1
        faults = self.faults
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        action = faults.pick(self._rng)
        if action == "error":
            return web.Response(
                status=503, content_type="text/html", text="<html><body><h1>503 Service Unavailable</h1></body></html>"
            )
        if action == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), faults.hang_seconds)
            return web.Response(status=504, content_type="text/html", text="<html>504 Gateway Timeout</html>")
        status, body = make()
        if action == "truncate":
            body = body[: max(1, len(body) // 2)]
        return web.Response(status=status, body=body, content_type=_JSON)

    def _uri(self, method: str, request: web.Request) -> tuple[int, bytes]:
        try:
            return 200, self._envelope(b"-1", self._call(method, dict(request.query)))
        except _RpcFault as exc:
            return 500, self._error_envelope(b"-1", exc.error)

    async def _get_status(self, request: web.Request) -> web.StreamResponse:
        return await self._faulted(lambda: self._uri("status", request))

    async def _get_block(self, request: web.Request) -> web.StreamResponse:
        return await self._faulted(lambda: self._uri("block", request))

    async def _get_block_results(self, request: web.Request) -> web.StreamResponse:
        return await self._faulted(lambda: self._uri("block_results", request))

    async def _get_validators(self, request: web.Request) -> web.StreamResponse:
        return await self._faulted(lambda: self._uri("validators", request))

    async def _get_rest(self, request: web.Request) -> web.StreamResponse:
        def make() -> tuple[int, bytes]:
            path = request.path
            if any(path.startswith(prefix) for prefix in self.faults.rest_failing):
                return grpc_error(500, 13, f"devnet fault: {path} is failing")
            return self._rest.answer(path, request.query, request.headers.get("x-cosmos-block-height"))

        return await self._faulted(make)

    def _one(self, req: Any) -> bytes:
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            return self._error_envelope(b"null", {"code": -32600, "message": "Invalid Request", "data": ""})
        rpc_id = msgspec.json.encode(req.get("id"))
        params = req.get("params") or {}
        if isinstance(params, list):  # positional: [height, page, per_page]
            params = dict(zip(("height", "page", "per_page"), params, strict=False))
        try:
            return self._envelope(rpc_id, self._call(req["method"], params))
        except _RpcFault as exc:
            return self._error_envelope(rpc_id, exc.error)

    async def _post_jsonrpc(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()

        def make() -> tuple[int, bytes]:
            try:
                req = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                return 200, self._error_envelope(
                    b"null", {"code": -32700, "message": "Parse error", "data": "error unmarshaling request"}
                )
            if isinstance(req, list):
                return 200, b"[" + b",".join(self._one(r) for r in req) + b"]"
            return 200, self._one(req)

        return await self._faulted(make)

    # -- websocket -----------------------------------------------------------------------------

    def _on_new_block(self, height: int) -> None:
        visible = height - self.faults.lag
        if visible < 1:
            return
        for client in list(self._clients):
            if not client.subs:
                continue
            try:
                client.queue.put_nowait(visible)
            except asyncio.QueueFull:
                # CometBFT cancels a subscription whose buffer is full; we drop the client's subs.
                client.subs.clear()

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.faults.websocket:
            raise web.HTTPNotFound()
        if self.faults.latency_ms > 0:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        client = _WsClient(ws)
        self._clients.add(client)
        writer = asyncio.create_task(self._ws_writer(client))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._ws_request(client, msg.data)
                if reply is not None:
                    await ws.send_str(reply.decode())
        finally:
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _ws_request(self, client: _WsClient, data: str) -> bytes | None:
        try:
            req = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return self._error_envelope(b"null", {"code": -32700, "message": "Parse error", "data": ""})
        if not isinstance(req, dict):
            return self._error_envelope(b"null", {"code": -32600, "message": "Invalid Request", "data": ""})
        rpc_id = msgspec.json.encode(req.get("id"))
        method = req.get("method")
        params = req.get("params") or {}
        query = params.get("query", "") if isinstance(params, dict) else ""
        if method == "subscribe":
            if not _NEWBLOCK_QUERY.match(query):
                return self._error_envelope(
                    rpc_id,
                    {
                        "code": INTERNAL_ERROR,
                        "message": "Internal error",
                        "data": f"devnet supports only tm.event = 'NewBlock' subscriptions, got {query!r}",
                    },
                )
            if query in client.subs:
                return self._error_envelope(
                    rpc_id, {"code": INTERNAL_ERROR, "message": "Internal error", "data": "already subscribed"}
                )
            client.subs[query] = req.get("id")
            return self._envelope(rpc_id, b"{}")
        if method == "unsubscribe":
            client.subs.pop(query, None)
            return self._envelope(rpc_id, b"{}")
        if method == "unsubscribe_all":
            client.subs.clear()
            return self._envelope(rpc_id, b"{}")
        try:
            return self._envelope(rpc_id, self._call(str(method), params if isinstance(params, dict) else {}))
        except _RpcFault as exc:
            return self._error_envelope(rpc_id, exc.error)

    async def _ws_writer(self, client: _WsClient) -> None:
        while True:
            height = await client.queue.get()
            for query, sub_id in list(client.subs.items()):
                event = self.chain.new_block_event(height, query, self.faults.wrong_chain_id)
                body = self._envelope(msgspec.json.encode(sub_id), msgspec.json.encode(event))
                try:
                    await client.ws.send_str(body.decode())
                except (ConnectionError, RuntimeError):
                    return

    # -- control HTTP API ----------------------------------------------------------------------

    async def _inject(self, request: web.Request) -> web.StreamResponse:
        try:
            body = msgspec.json.decode(await request.read())
            if not isinstance(body, dict):
                raise ValidationError("expected a JSON object")
            injected = self.chain.schedule_transfer(
                str(body.get("from") or body.get("sender") or ""),
                str(body.get("to") or body.get("recipient") or ""),
                int(body.get("amount", 0)),
                body.get("denom"),
                height=int(body["height"]) if body.get("height") is not None else None,
            )
        except (ValidationError, ValueError, TypeError, msgspec.DecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(body=msgspec.json.encode(injected), content_type=_JSON)

    async def _advance(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw) if raw else {}
            n = int(body.get("n", 1)) if isinstance(body, dict) else 1
        except (ValueError, TypeError, msgspec.DecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not 1 <= n <= 100_000:
            return web.json_response({"error": "n must be between 1 and 100000"}, status=400)
        return web.json_response({"tip": self.chain.advance(n)})

    async def _get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=msgspec.json.encode(self.faults), content_type=_JSON)

    async def _set_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = msgspec.json.decode(await request.read())
            merged = msgspec.structs.asdict(self.faults) | changes
            self.faults = msgspec.convert(merged, Faults)
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(body=msgspec.json.encode(self.faults), content_type=_JSON)

    # -- control: validators, gov, time --------------------------------------------------------

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = msgspec.json.decode(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValidationError("expected a JSON object")
        return body

    @staticmethod
    def _bad(exc: Exception) -> web.StreamResponse:
        return web.json_response({"error": str(exc)}, status=400)

    async def _warp(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self._body(request)
            self.chain.warp(float(body.get("seconds", 0)))
        except (ValidationError, ValueError, TypeError, msgspec.DecodeError) as exc:
            return self._bad(exc)
        return web.json_response({"tip": self.chain.tip})

    async def _list_validators(self, request: web.Request) -> web.StreamResponse:
        listed = [msgspec.structs.asdict(v) | {"power": v.power, "status": v.status} for v in self.chain.validators]
        return web.Response(body=msgspec.json.encode(listed), content_type=_JSON)

    async def _validator_action(self, request: web.Request) -> web.StreamResponse:
        """`{"who": valoper|valcons|hex|index, ...}`; actions: missing (`"missing": bool`), jail,
        unjail, tombstone, edit (`"moniker"`, `"commission_rate"`)."""
        action = request.match_info["action"]
        try:
            body = await self._body(request)
            who = body.get("who")
            if not isinstance(who, str | int) or isinstance(who, bool):
                raise ValidationError("'who' (a validator address or index) is required")
            chain = self.chain
            result: Any
            if action == "missing":
                result = chain.set_missing(who, bool(body.get("missing", True)))
            elif action == "jail":
                result = chain.jail(who)
            elif action == "tombstone":
                result = chain.tombstone(who)
            elif action == "unjail":
                result = chain.unjail(who)
            elif action == "edit":
                result = chain.edit_validator(
                    who, moniker=body.get("moniker"), commission_rate=body.get("commission_rate")
                )
            else:
                return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        except (ValidationError, ValueError, TypeError, msgspec.DecodeError) as exc:
            return self._bad(exc)
        return web.Response(body=msgspec.json.encode(result), content_type=_JSON)

    async def _submit_proposal(self, request: web.Request) -> web.StreamResponse:
        """`{"title", "description"?, "proposer"?, "voting_period"? (seconds)}` -> `{"proposal_id"}`."""
        try:
            body = await self._body(request)
            title = body.get("title")
            if not isinstance(title, str) or not title:
                raise ValidationError("'title' is required")
            pid = self.chain.submit_proposal(
                title,
                proposer=body.get("proposer"),
                voting_period=float(body.get("voting_period", 86400.0)),
                description=str(body.get("description", "")),
            )
        except (ValidationError, ValueError, TypeError, msgspec.DecodeError) as exc:
            return self._bad(exc)
        return web.json_response({"proposal_id": pid, "height": self.chain.tip + 1})

    async def _vote(self, request: web.Request) -> web.StreamResponse:
        """`{"proposal_id", "voter" (account, or a validator's address/index), "option"?}`."""
        try:
            body = await self._body(request)
            voter = body.get("voter")
            if not isinstance(voter, str | int) or isinstance(voter, bool):
                raise ValidationError("'voter' is required")
            injected = self.chain.vote(int(body.get("proposal_id", 0)), voter, str(body.get("option", "yes")))
        except (ValidationError, ValueError, TypeError, msgspec.DecodeError) as exc:
            return self._bad(exc)
        return web.Response(body=msgspec.json.encode(injected), content_type=_JSON)
