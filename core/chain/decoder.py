"""Decode `/block_results` (+ `/block`) of any CometBFT version into a `DecodedBlock`.

Formats are recognised by what is present, never by a declared version (README §4):

- tx events come from `txs_results[i].events`; block events from `begin_block_events`,
  `finalize_block_events` and `end_block_events`, in that order, whichever exist (Sei has
  base64 attributes *and* `finalize_block_events`).
- Attribute encoding (v0.34 base64 vs v0.37+ plain) is decided once per `/block_results`
  document, because a node encodes the whole response one way. Many plain keys are valid base64
  ("amount", "receiver", "mode", ...), so a single key proves nothing. The rule:

      the document is base64 iff it has at least one non-empty key, and EVERY non-empty key is
      canonical, strictly padded base64 that decodes to non-empty, printable UTF-8, and EVERY
      non-null value is strictly padded base64.

  Plain keys fail this fast: most have a length that is not a multiple of 4 ("amount",
  "sender"), and those that do decode to invalid UTF-8 ("receiver", "mode", "data", "hash").
  Requiring the values too makes a false positive need a whole block of base64-looking strings.
  Decoded values that are not UTF-8 use U+FFFD, as CometBFT's own JSON would.
- Events with an empty/absent type and attributes with an empty/absent key are dropped from
  BOTH `events` and `events_map` (CometBFT skips them when building the map; keeping them in
  `events` would let a notification show data a query can never match). `null` values are "".
- Reserved keys: tx scopes get `tm.event=["Tx"]`, `tx.hash` (when `/block` is given),
  `tx.height`, and the Mempools extension `tx.code` (the result code as decimal; "0" on
  success). The block scope gets `tm.event=["NewBlock","NewBlockEvents"]` (so both query styles
  match) and `block.height`. Reserved values are appended after the app's values for the same
  key, as CometBFT appends them.
- A failed tx's scope also carries its result `log` and, when `/block` is given, the messages of
  its body (core/chain/txbody.py): its own events are reverted, so only these say what it tried.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Any

import msgspec
from msgspec import Struct

from core.chain.blocks import (
    BLOCK_EVENTS,
    FLAG_ABSENT,
    FLAG_COMMIT,
    FLAG_NIL,
    TX_EVENT,
    Attribute,
    CommitSig,
    DecodedBlock,
    Event,
    NodeStatus,
    Scope,
    ValidatorUpdate,
)
from core.chain.errors import BlockDecodeError
from core.chain.jsonrpc import JsonRpcErrorBody, classify_error
from core.chain.txbody import tx_messages
from core.chain.validators import normalise_key_type, pub_key_of

# --- raw RPC shapes (only the fields we read; unknown fields are ignored) ---------------------


class _RawAttribute(Struct):
    key: str | None = None
    value: str | None = None


class _RawEvent(Struct):
    type: str | None = None
    attributes: list[_RawAttribute] | None = None


class _RawTxResult(Struct):
    code: int = 0
    codespace: str | None = None
    log: str | None = None
    gas_wanted: int | None = None
    gas_used: int | None = None
    events: list[_RawEvent] | None = None


class _RawValidatorUpdate(Struct):
    """v0.34..v0.38: `pub_key` (a `Sum` oneof or amino JSON); CometBFT v1: `pub_key_type` + `pub_key_bytes`."""

    pub_key: Any = None
    power: int = 0
    pub_key_type: str | None = None
    pub_key_bytes: str | None = None


class _RawBlockResults(Struct):
    height: int
    txs_results: list[_RawTxResult] | None = None
    begin_block_events: list[_RawEvent] | None = None
    finalize_block_events: list[_RawEvent] | None = None
    end_block_events: list[_RawEvent] | None = None
    validator_updates: list[_RawValidatorUpdate] | None = None


class _BlockResultsDoc(Struct):
    """Either the JSON-RPC envelope (`result`/`error`) or the bare result (the other fields)."""

    result: _RawBlockResults | None = None
    error: JsonRpcErrorBody | None = None
    height: int | None = None
    txs_results: list[_RawTxResult] | None = None
    begin_block_events: list[_RawEvent] | None = None
    finalize_block_events: list[_RawEvent] | None = None
    end_block_events: list[_RawEvent] | None = None
    validator_updates: list[_RawValidatorUpdate] | None = None


class _RawHeader(Struct):
    height: int
    chain_id: str | None = None
    time: str | None = None
    validators_hash: str | None = None
    proposer_address: str | None = None


class _RawCommitSig(Struct):
    """The tolerant form, read only when the fast one failed: protobuf JSON spells the flag
    "BLOCK_ID_FLAG_COMMIT", and a fork may send `null` for an absent validator's address."""

    block_id_flag: int | str = 0
    validator_address: str | None = None


class _RawCommit(Struct):
    # CometBFT's own form, decoded straight into the public records (the per-block fast path)
    signatures: list[CommitSig] | None = None


class _RawCommitTolerant(Struct):
    signatures: list[_RawCommitSig] | None = None


class _RawData(Struct):
    txs: list[str] | None = None


class _RawBlock(Struct):
    header: _RawHeader
    data: _RawData | None = None
    last_commit: _RawCommit | None = None


class _RawBlockTolerant(Struct):
    header: _RawHeader
    data: _RawData | None = None
    last_commit: _RawCommitTolerant | None = None


class _RawBlockResult(Struct):
    block: _RawBlock | None = None


class _BlockDoc(Struct):
    result: _RawBlockResult | None = None
    error: JsonRpcErrorBody | None = None
    block: _RawBlock | None = None


class _RawBlockResultTolerant(Struct):
    block: _RawBlockTolerant | None = None


class _BlockDocTolerant(Struct):
    result: _RawBlockResultTolerant | None = None
    error: JsonRpcErrorBody | None = None
    block: _RawBlockTolerant | None = None


class _RawNodeInfo(Struct):
    network: str
    moniker: str | None = None
    version: str | None = None


class _RawSyncInfo(Struct):
    latest_block_height: int
    latest_block_time: str | None = None
    earliest_block_height: int = 0
    catching_up: bool = False


class _RawStatus(Struct):
    node_info: _RawNodeInfo
    sync_info: _RawSyncInfo


class _StatusDoc(Struct):
    result: _RawStatus | None = None
    error: JsonRpcErrorBody | None = None
    node_info: _RawNodeInfo | None = None
    sync_info: _RawSyncInfo | None = None


RawJson = bytes | bytearray | memoryview | str | dict[str, Any]

_KEY_CACHE_LIMIT = 50_000

#: BlockIDFlag names of protobuf JSON (cometbft/types/v1/validator.proto).
_FLAG_NAMES = {
    "BLOCK_ID_FLAG_UNKNOWN": 0,
    "BLOCK_ID_FLAG_ABSENT": FLAG_ABSENT,
    "BLOCK_ID_FLAG_COMMIT": FLAG_COMMIT,
    "BLOCK_ID_FLAG_NIL": FLAG_NIL,
}


def _load(data: RawJson, typ: type[Any], what: str) -> Any:
    """Decode JSON bytes or an already-parsed dict into a raw struct, mapping failures to one type.

    `strict=False` lets msgspec read CometBFT's 64-bit integers, which are JSON strings.
    """
    try:
        if isinstance(data, dict):
            return msgspec.convert(data, typ, strict=False)
        return msgspec.json.decode(data, type=typ, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BlockDecodeError(f"malformed {what} response: {exc}") from None


def _b64_text(s: str) -> str | None:
    """The text a v0.34 base64 key stands for, or None if `s` is not such a key."""
    if len(s) % 4:
        return None
    try:
        raw = binascii.a2b_base64(s, strict_mode=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text or not text.isprintable():
        return None
    if binascii.b2a_base64(raw, newline=False).decode("ascii") != s:
        return None  # not canonical: CometBFT never produces that
    return text


def decode_status(data: RawJson) -> NodeStatus:
    """Parse `/status` (envelope or bare result)."""
    doc: _StatusDoc = _load(data, _StatusDoc, "/status")
    if doc.error is not None:
        raise classify_error(doc.error)
    if doc.result is not None:
        node_info, sync_info = doc.result.node_info, doc.result.sync_info
    elif doc.node_info is not None and doc.sync_info is not None:
        node_info, sync_info = doc.node_info, doc.sync_info
    else:
        raise BlockDecodeError("not a /status response")
    return NodeStatus(
        chain_id=node_info.network,
        latest_height=sync_info.latest_block_height,
        latest_time=sync_info.latest_block_time,
        earliest_height=sync_info.earliest_block_height,
        catching_up=sync_info.catching_up,
        moniker=node_info.moniker,
        version=node_info.version,
    )


class BlockDecoder:
    """Turns raw RPC answers into `DecodedBlock`s. Stateless apart from a bounded key cache.

    Keys repeat across every block of a chain ("amount", "sender"), so their base64 check and
    decoding is cached per decoder instance; one decoder per watcher is the intended use.
    """

    def __init__(self) -> None:
        self._key_cache: dict[str, str | None] = {}

    # -- public ---------------------------------------------------------------------------

    def decode(self, block_results: RawJson, block: RawJson | None = None) -> DecodedBlock:
        """Decode one height. `block` (the `/block` answer) adds tx hashes, time and chain id."""
        results = self._results(block_results)
        height = results.height
        tx_results = results.txs_results or []
        block_lists = [
            lst for lst in (results.begin_block_events, results.finalize_block_events, results.end_block_events) if lst
        ]

        time: str | None = None
        chain_id: str | None = None
        hashes: list[str] | None = None
        txs: list[str] = []
        validators_hash: str | None = None
        proposer: str | None = None
        signatures: tuple[CommitSig, ...] = ()
        if block is not None:
            raw_block = self._block(block)
            header = raw_block.header
            if header.height != height:
                raise BlockDecodeError(f"/block is for height {header.height}, /block_results for {height}")
            time, chain_id = header.time, header.chain_id
            validators_hash = header.validators_hash.upper() if header.validators_hash else None
            proposer = header.proposer_address.upper() if header.proposer_address else None
            signatures = _signatures(raw_block, height)
            txs = (raw_block.data.txs if raw_block.data else None) or []
            if len(txs) != len(tx_results):
                raise BlockDecodeError(
                    f"height {height}: /block has {len(txs)} txs but /block_results has {len(tx_results)}"
                )
            hashes = [self.tx_hash(tx) for tx in txs]

        all_lists = [tx.events for tx in tx_results if tx.events]
        all_lists.extend(block_lists)
        b64 = self._is_base64(all_lists)

        h = str(height)
        scopes: list[Scope] = []
        try:
            scopes = self._scopes(height, h, tx_results, block_lists, hashes, txs, b64)
        except _NotBase64:
            scopes = self._scopes(height, h, tx_results, block_lists, hashes, txs, False)
        return DecodedBlock(
            height=height,
            time=time,
            chain_id=chain_id,
            scopes=tuple(scopes),
            validators_hash=validators_hash,
            proposer=proposer,
            signatures=signatures,
            validator_updates=_validator_updates(results.validator_updates, height)
            if results.validator_updates
            else (),
        )

    @staticmethod
    def tx_hash(tx_b64: str) -> str:
        """Upper-case hex SHA-256 of a raw tx given as base64 (the form of `/block` `data.txs`)."""
        try:
            raw = binascii.a2b_base64(tx_b64)
        except binascii.Error as exc:
            raise BlockDecodeError(f"tx in /block is not base64: {exc}") from None
        return hashlib.sha256(raw).hexdigest().upper()

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _results(data: RawJson) -> _RawBlockResults:
        doc: _BlockResultsDoc = _load(data, _BlockResultsDoc, "/block_results")
        if doc.error is not None:
            raise classify_error(doc.error)
        if doc.result is not None:
            return doc.result
        if doc.height is None:
            raise BlockDecodeError("not a /block_results response (no result, no height)")
        return _RawBlockResults(
            height=doc.height,
            txs_results=doc.txs_results,
            begin_block_events=doc.begin_block_events,
            finalize_block_events=doc.finalize_block_events,
            end_block_events=doc.end_block_events,
            validator_updates=doc.validator_updates,
        )

    @staticmethod
    def _block(data: RawJson) -> _RawBlock | _RawBlockTolerant:
        doc: _BlockDoc | _BlockDocTolerant
        try:
            doc = _load(data, _BlockDoc, "/block")
        except BlockDecodeError:
            doc = _load(data, _BlockDocTolerant, "/block")  # raises the same error if still bad
        if doc.error is not None:
            raise classify_error(doc.error)
        raw = doc.result.block if doc.result is not None else doc.block
        if raw is None:
            raise BlockDecodeError("not a /block response (no block)")
        return raw

    def _key_text(self, key: str) -> str | None:
        cache = self._key_cache
        try:
            return cache[key]
        except KeyError:
            pass
        if len(cache) >= _KEY_CACHE_LIMIT:
            cache.clear()
        text = cache[key] = _b64_text(key)
        return text

    def _is_base64(self, lists: list[list[_RawEvent]]) -> bool:
        seen_key = False
        for events in lists:
            for ev in events:
                for attr in ev.attributes or ():
                    key = attr.key
                    if not key:
                        continue
                    if self._key_text(key) is None:
                        return False
                    seen_key = True
        return seen_key

    def _scopes(
        self,
        height: int,
        h: str,
        tx_results: list[_RawTxResult],
        block_lists: list[list[_RawEvent]],
        hashes: list[str] | None,
        txs: list[str],
        b64: bool,
    ) -> list[Scope]:
        scopes: list[Scope] = []
        for index, tx in enumerate(tx_results):
            events, emap = self._events(tx.events or (), b64)
            tx_hash = hashes[index] if hashes is not None else None
            emap.setdefault("tm.event", []).append(TX_EVENT)
            if tx_hash is not None:
                emap.setdefault("tx.hash", []).append(tx_hash)
            emap.setdefault("tx.height", []).append(h)
            emap.setdefault("tx.code", []).append(str(tx.code))
            scopes.append(
                Scope(
                    kind="tx",
                    index=index,
                    tx_hash=tx_hash,
                    code=tx.code,
                    codespace=tx.codespace or None,
                    gas_wanted=tx.gas_wanted,
                    gas_used=tx.gas_used,
                    events=events,
                    events_map=emap,
                    log=tx.log or None,
                    messages=tx_messages(txs[index]) if tx.code and txs else (),
                )
            )
        block_events: list[_RawEvent] = []
        for lst in block_lists:
            block_events.extend(lst)
        events, emap = self._events(block_events, b64)
        emap.setdefault("tm.event", []).extend(BLOCK_EVENTS)
        emap.setdefault("block.height", []).append(h)
        scopes.append(
            Scope(
                kind="block",
                index=None,
                tx_hash=None,
                code=None,
                codespace=None,
                gas_wanted=None,
                gas_used=None,
                events=events,
                events_map=emap,
            )
        )
        return scopes

    def _events(
        self, raw_events: list[_RawEvent] | tuple[()], b64: bool
    ) -> tuple[tuple[Event, ...], dict[str, list[str]]]:
        events: list[Event] = []
        emap: dict[str, list[str]] = {}
        key_text = self._key_text
        for raw in raw_events:
            etype = raw.type
            if not etype:
                continue
            attrs: list[Attribute] = []
            for ra in raw.attributes or ():
                key = ra.key
                if not key:
                    continue
                value = ra.value or ""
                if b64:
                    key = key_text(key) or ""
                    if value:
                        try:
                            value = binascii.a2b_base64(value, strict_mode=True).decode("utf-8", "replace")
                        except binascii.Error:
                            raise _NotBase64 from None
                attrs.append(Attribute(key, value))
                composite = f"{etype}.{key}"
                lst = emap.get(composite)
                if lst is None:
                    emap[composite] = [value]
                else:
                    lst.append(value)
            events.append(Event(etype, tuple(attrs)))
        return tuple(events), emap


def _signatures(raw_block: _RawBlock | _RawBlockTolerant, height: int) -> tuple[CommitSig, ...]:
    """`last_commit.signatures` as `CommitSig`s (the votes for height-1; empty at genesis)."""
    commit = raw_block.last_commit
    if commit is None or not commit.signatures:
        return ()
    if isinstance(commit, _RawCommit):
        sigs = commit.signatures
        assert sigs is not None
        # as CometBFT writes them: HexBytes upper-case, and "" for ABSENT (its ValidateBasic
        # refuses an absent signature with an address), so no per-entry normalising is needed
        return tuple(sigs)
    out: list[CommitSig] = []
    append = out.append
    for sig in commit.signatures:
        flag = sig.block_id_flag
        if type(flag) is not int:
            named = _FLAG_NAMES.get(str(flag))
            if named is None:
                raise BlockDecodeError(f"height {height}: unknown block_id_flag {flag!r} in last_commit")
            flag = named
        address = sig.validator_address
        if flag == FLAG_ABSENT or not address:
            append(CommitSig(flag, ""))
        else:
            append(CommitSig(flag, address.upper()))
    return tuple(out)


def _validator_updates(raw: list[_RawValidatorUpdate], height: int) -> tuple[ValidatorUpdate, ...]:
    out: list[ValidatorUpdate] = []
    for update in raw:
        try:
            if update.pub_key_bytes is not None:  # CometBFT v1
                key_type, key = normalise_key_type(update.pub_key_type or ""), update.pub_key_bytes
            else:
                key_type, key = pub_key_of(update.pub_key)
        except ValueError as exc:
            raise BlockDecodeError(f"height {height}: bad validator update: {exc}") from None
        out.append(ValidatorUpdate(pub_key_type=key_type, pub_key=key, power=update.power))
    return tuple(out)


class _NotBase64(Exception):
    """A value broke the base64 assumption: the document is plain text after all."""
