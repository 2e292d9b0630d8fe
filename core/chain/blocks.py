"""The normalised block model every later stage (matcher, notifications) works on.

A block is a list of *scopes*: one per transaction (in index order) and, last, one block scope
holding every block-level event (begin/end block, or v0.38+ `finalize_block_events`). A scope is
exactly the unit CometBFT matches a query against, and `events_map` is the flat map CometBFT builds
for it (`"type.attr" -> [values]`, reserved keys included), so a query gives the same answer here as
on a node's websocket.

The block scope is always present, even when it has no events: consumers can rely on
`scopes[-1]` being the block, and `tm.event = 'NewBlock'` matches every block, as on a node.

These records hold only strings, numbers and each other, never a reference back, so they cannot
form cycles and are kept out of the garbage collector (`gc=False`): a block allocates thousands
of them, and notifications built from them may wait in the outbox, where every tracked object
would make each full collection, and so the watcher, slower.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct, field

#: Reserved `tm.event` values of the two scope kinds (README §3).
TX_EVENT = "Tx"
BLOCK_EVENTS = ("NewBlock", "NewBlockEvents")


class Attribute(Struct, frozen=True, gc=False):
    key: str
    value: str


class Event(Struct, frozen=True, gc=False):
    type: str
    attributes: tuple[Attribute, ...]


class TxMessage(Struct, frozen=True, gc=False):
    """One message of a tx body: its type, and for a bank send its recipient and coins.

    Read only for failed txs (core/chain/txbody.py), whose events no longer say what they tried.
    """

    type_url: str
    recipient: str | None = None
    amount: str | None = None  # a Cosmos coins string, "9000000000uatom"


class Scope(Struct, frozen=True, gc=False):
    """One transaction's events, or the block's own events.

    For tx scopes: `index` is the position in the block, `tx_hash` the upper-case hex SHA-256 of
    the raw tx (None when `/block` was not given), `code` 0 on success, `log` the result's log
    (why a failed tx failed: its own events are reverted, so this is the only account of it), and
    `messages` what a failed tx attempted, read from its body (empty for successful txs and when
    `/block` was not given). For the block scope every tx-only field is None.
    """

    kind: Literal["tx", "block"]
    index: int | None
    tx_hash: str | None
    code: int | None
    codespace: str | None
    gas_wanted: int | None
    gas_used: int | None
    events: tuple[Event, ...]
    events_map: dict[str, list[str]]
    log: str | None = None
    messages: tuple[TxMessage, ...] = ()

    @property
    def failed(self) -> bool:
        """True for a tx whose result code is not 0 (its fee events are still reported)."""
        return bool(self.code)


class CommitSig(Struct, frozen=True, gc=False):
    """One entry of a commit: how a validator voted for the previous block.

    `flag` is CometBFT's BlockIDFlag (1 absent, 2 commit, 3 nil). An ABSENT entry has an empty
    `address` on the wire: who missed is known only from its position, which is the position of
    the validator in the set of the committed height (see core/chain/validators.py).

    The fields carry CometBFT's JSON names, so the decoder reads `last_commit.signatures`
    straight into these records (a 180-validator commit costs ~20 µs instead of ~45 µs with an
    intermediate copy); encoded, a CommitSig looks like CometBFT's own.
    """

    flag: int = field(name="block_id_flag")
    address: str = field(name="validator_address")  # upper-case hex, "" when absent

    @property
    def signed(self) -> bool:
        """True when the validator's vote is in the commit (for the block or for nil)."""
        return self.flag != FLAG_ABSENT


#: CometBFT BlockIDFlag values (types/block.go).
FLAG_ABSENT = 1
FLAG_COMMIT = 2
FLAG_NIL = 3


class ValidatorUpdate(Struct, frozen=True, gc=False):
    """A change of the validator set the app returned for a block (power 0 = removed)."""

    pub_key_type: str  # "ed25519" | "secp256k1" | ... (lower case)
    pub_key: str  # base64
    power: int


class DecodedBlock(Struct, frozen=True, gc=False):
    """One height. The commit fields come from `/block`, so they stay empty when it was not given:
    `signatures` are the votes for height-1 (`last_commit`), in the order of that height's set."""

    height: int
    time: str | None
    chain_id: str | None
    scopes: tuple[Scope, ...]
    validators_hash: str | None = None
    proposer: str | None = None
    signatures: tuple[CommitSig, ...] = ()
    validator_updates: tuple[ValidatorUpdate, ...] = ()

    @property
    def txs(self) -> tuple[Scope, ...]:
        """The tx scopes, in index order."""
        return self.scopes[:-1]

    @property
    def block_scope(self) -> Scope:
        """The block scope (always the last one)."""
        return self.scopes[-1]


class NodeStatus(Struct, frozen=True):
    """What `/status` says about a node: which chain, how far it is, what it still keeps."""

    chain_id: str
    latest_height: int
    latest_time: str | None
    earliest_height: int
    catching_up: bool
    moniker: str | None = None
    version: str | None = None
