"""SubscriptionIndex: which subscriptions match a scope, without looking at all of them.

Every condition implies that its tag is present in the scope (as a key with a value, or as an
event type). So every query can be filed under one *anchor* taken from one of its conditions:

- `tag = 'value'`  -> `eq[tag][value]`  (also looked up for event types with value `''`)
- any other        -> `has[tag]`        (the tag must be a key or an event type of the scope)

Per scope, `match` looks up each (key, value) pair and each key / event type of the scope: the
work grows with the size of the scope and the number of candidates it finds, not with the number
of subscriptions. Candidates are then evaluated in full, so the answer is exactly the plain
evaluator's (a property test checks this).

The anchor of a query is its most selective condition: string equality before presence tests,
non-generic tags (addresses, contract addresses, proposal ids) before tags that are in nearly
every scope (`tm.event`, `message.action`, `tx.code`, ...), then the smaller bucket.

Identical queries (by normalised text) are compiled, stored and evaluated once per scope however
many subscriptions share them; a subscription holds one or more queries and fires once if any
matches (and its optional post-filter accepts the scope).

Memory matters (hundreds of thousands of queries): buckets and the subscriptions of a query hold
a single object directly and only become a set / dict when a second one arrives.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from msgspec import Struct

from core.query.compiler import CompiledCondition, CompiledQuery, _StringEq, compile_query
from core.query.events import EventMap, EventView, as_view
from core.query.filters import PostFilter, as_post_filter
from core.query.syntax import Query

SubId = TypeVar("SubId", bound=Hashable)

#: Tags present in (nearly) every scope of their kind: poor anchors.
GENERIC_TAGS = frozenset(
    {
        "tm.event", "tx.height", "tx.hash", "tx.code", "block.height",
        "tx.fee", "tx.acc_seq", "tx.signature", "tx.fee_payer",
        "message.action", "message.module", "message.msg_index",
        "coin_spent.amount", "coin_received.amount", "transfer.amount",
        "tx", "message", "transfer", "coin_spent", "coin_received",
    }
)  # fmt: skip


class IndexStats(Struct, frozen=True):
    subscriptions: int
    distinct_queries: int
    equality_anchors: int
    presence_anchors: int


class _Sub:
    __slots__ = ("id", "nodes", "post_filter")

    def __init__(self, sub_id: Hashable, nodes: tuple[_Node, ...], post_filter: PostFilter | None) -> None:
        self.id = sub_id
        self.nodes = nodes
        self.post_filter = post_filter


class _Node:
    """One distinct query, the subscription(s) holding it, and the condition it is filed under."""

    __slots__ = ("anchor", "query", "subs")

    def __init__(self, query: CompiledQuery, anchor: CompiledCondition) -> None:
        self.query = query
        self.anchor = anchor
        self.subs: _Sub | dict[Hashable, _Sub] | None = None

    def add_sub(self, sub: _Sub) -> None:
        if self.subs is None:
            self.subs = sub
        elif isinstance(self.subs, _Sub):
            self.subs = {self.subs.id: self.subs, sub.id: sub}
        else:
            self.subs[sub.id] = sub

    def remove_sub(self, sub_id: Hashable) -> bool:
        """Forget a subscription; True when no subscription is left."""
        if isinstance(self.subs, dict):
            del self.subs[sub_id]
            if len(self.subs) == 1:
                (self.subs,) = self.subs.values()
            return False
        self.subs = None
        return True

    def sub_list(self) -> Iterable[_Sub]:
        subs = self.subs
        if subs is None:
            return ()
        return (subs,) if isinstance(subs, _Sub) else subs.values()


# A bucket is one node, or a set of nodes once it holds several.
_Bucket = _Node | set[_Node]


def _bucket_add(bucket: _Bucket | None, node: _Node) -> _Bucket:
    if bucket is None:
        return node
    if isinstance(bucket, _Node):
        return {bucket, node}
    bucket.add(node)
    return bucket


def _bucket_remove(bucket: _Bucket, node: _Node) -> _Bucket | None:
    if isinstance(bucket, _Node):
        return None
    bucket.discard(node)
    if len(bucket) == 1:
        return next(iter(bucket))
    return bucket


def _bucket_len(bucket: _Bucket | None) -> int:
    return 0 if bucket is None else 1 if isinstance(bucket, _Node) else len(bucket)


class SubscriptionIndex(Generic[SubId]):
    """Subscriptions (opaque hashable ids) -> compiled queries, indexed for per-scope matching.

    Not thread-safe: meant to be owned by one event loop (the matcher of one chain).
    """

    def __init__(self) -> None:
        self._subs: dict[Any, _Sub] = {}
        self._nodes: dict[str, _Node] = {}
        self._eq: dict[str, dict[str, _Bucket]] = {}
        self._has: dict[str, _Bucket] = {}

    # -- maintenance ------------------------------------------------------------------------

    def add(
        self,
        sub_id: SubId,
        queries: Iterable[str | Query | CompiledQuery] | str | Query | CompiledQuery,
        post_filter: PostFilter | Any | None = None,
    ) -> None:
        """Add a subscription. Raises `KeyError` if the id exists, `QuerySyntaxError` for an
        invalid query and `ValueError` for no query; on any error the index is unchanged.

        `post_filter` is a `PostFilter`, None, or anything shaped like `core.models.AmountFilter`.
        """
        if sub_id in self._subs:
            raise KeyError(f"subscription {sub_id!r} is already indexed")
        self._insert(sub_id, self._compile_all(queries), as_post_filter(post_filter))

    def update(
        self,
        sub_id: SubId,
        queries: Iterable[str | Query | CompiledQuery] | str | Query | CompiledQuery,
        post_filter: PostFilter | Any | None = None,
    ) -> None:
        """Replace a subscription's queries and post-filter (adds it if it is absent)."""
        compiled = self._compile_all(queries)  # validate before touching anything
        pf = as_post_filter(post_filter)
        self.remove(sub_id)
        self._insert(sub_id, compiled, pf)

    def remove(self, sub_id: SubId) -> bool:
        """Remove a subscription; False if it was not indexed."""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return False
        for node in sub.nodes:
            if node.remove_sub(sub_id):
                self._drop_node(node)
        return True

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._subs

    def __len__(self) -> int:
        return len(self._subs)

    def queries_of(self, sub_id: SubId) -> list[str]:
        """The normalised queries of a subscription (KeyError if absent)."""
        return [n.query.text for n in self._subs[sub_id].nodes]

    def stats(self) -> IndexStats:
        return IndexStats(
            subscriptions=len(self._subs),
            distinct_queries=len(self._nodes),
            equality_anchors=sum(len(d) for d in self._eq.values()),
            presence_anchors=len(self._has),
        )

    # -- matching ---------------------------------------------------------------------------

    def match(self, events: EventMap | EventView) -> set[SubId]:
        """The ids of the subscriptions that match this scope's `type.attr -> [values]` map."""
        view = as_view(events)
        result: set[SubId] = set()
        if not view.events:
            return result
        candidates = self._candidates(view)
        if not candidates:
            return result
        rejected: set[SubId] = set()
        verdicts: dict[object, bool] = {}
        for node in candidates:
            if not node.query.matches(view):
                continue
            for sub in node.sub_list():
                sub_id = sub.id
                if sub_id in result or sub_id in rejected:
                    continue
                # `_Sub` keeps its id as Hashable (the slotted records are not generic); every
                # id in them was given to `add` as a SubId.
                if sub.post_filter is None or self._passes(sub.post_filter, view, verdicts):
                    result.add(sub_id)  # type: ignore[arg-type]
                else:
                    rejected.add(sub_id)  # type: ignore[arg-type]
        return result

    def candidate_count(self, events: EventMap | EventView) -> int:
        """How many distinct queries `match` would evaluate for this scope (diagnostics, tests)."""
        return len(self._candidates(as_view(events)))

    def _candidates(self, view: EventView) -> set[_Node]:
        eq, has = self._eq, self._has
        found: set[_Node] = set()

        def take(bucket: _Bucket) -> None:
            if isinstance(bucket, _Node):
                found.add(bucket)
            else:
                found.update(bucket)

        for key, values in view.events.items():
            by_value = eq.get(key)
            if by_value is not None:
                for v in values:
                    bucket = by_value.get(v)
                    if bucket is not None:
                        take(bucket)
            bucket = has.get(key)
            if bucket is not None:
                take(bucket)
        for t in view.types:
            bucket = has.get(t)
            if bucket is not None:
                take(bucket)
            by_value = eq.get(t)
            if by_value is not None:
                bucket = by_value.get("")
                if bucket is not None:
                    take(bucket)
        return found

    @staticmethod
    def _passes(pf: PostFilter, view: EventView, verdicts: dict[object, bool]) -> bool:
        try:
            return verdicts[pf]
        except KeyError:
            ok = verdicts[pf] = bool(pf.matches(view.events))
            return ok
        except TypeError:  # unhashable filter: no caching
            return bool(pf.matches(view.events))

    # -- internals --------------------------------------------------------------------------

    def _compile_all(
        self, queries: Iterable[str | Query | CompiledQuery] | str | Query | CompiledQuery
    ) -> list[CompiledQuery]:
        if isinstance(queries, (str, Query, CompiledQuery)):
            queries = [queries]
        compiled: dict[str, CompiledQuery] = {}
        for q in queries:
            c = compile_query(q)
            node = self._nodes.get(c.text)
            compiled.setdefault(c.text, node.query if node is not None else c)
        if not compiled:
            raise ValueError("a subscription needs at least one query")
        return list(compiled.values())

    def _insert(self, sub_id: SubId, queries: list[CompiledQuery], post_filter: PostFilter | None) -> None:
        nodes = tuple(self._nodes.get(q.text) or self._new_node(q) for q in queries)
        sub = _Sub(sub_id, nodes, post_filter)
        for node in nodes:
            node.add_sub(sub)
        self._subs[sub_id] = sub

    def _new_node(self, query: CompiledQuery) -> _Node:
        anchor = min(query.conditions, key=self._anchor_rank)
        node = _Node(query, anchor)
        if isinstance(anchor, _StringEq):
            by_value = self._eq.setdefault(anchor.tag, {})
            by_value[anchor.value] = _bucket_add(by_value.get(anchor.value), node)
        else:
            self._has[anchor.tag] = _bucket_add(self._has.get(anchor.tag), node)
        self._nodes[query.text] = node
        return node

    def _drop_node(self, node: _Node) -> None:
        del self._nodes[node.query.text]
        anchor = node.anchor
        if isinstance(anchor, _StringEq):
            by_value = self._eq[anchor.tag]
            rest = _bucket_remove(by_value[anchor.value], node)
            if rest is None:
                del by_value[anchor.value]
                if not by_value:
                    del self._eq[anchor.tag]
            else:
                by_value[anchor.value] = rest
        else:
            rest = _bucket_remove(self._has[anchor.tag], node)
            if rest is None:
                del self._has[anchor.tag]
            else:
                self._has[anchor.tag] = rest

    def _anchor_rank(self, cond: CompiledCondition) -> tuple[bool, int, int]:
        if isinstance(cond, _StringEq) and cond.value:
            size = _bucket_len(self._eq.get(cond.tag, {}).get(cond.value))
            kind_rank = 0
        elif isinstance(cond, _StringEq):
            size = _bucket_len(self._eq.get(cond.tag, {}).get(""))
            kind_rank = 1
        else:
            size = _bucket_len(self._has.get(cond.tag))
            kind_rank = 1
        return (cond.tag in GENERIC_TAGS, kind_rank, size)


def match_all(subscriptions: Mapping[SubId, Iterable[CompiledQuery]], events: EventMap | EventView) -> set[SubId]:
    """The naive reference: evaluate every query of every subscription (tests, benchmarks)."""
    view = as_view(events)
    return {sid for sid, qs in subscriptions.items() if any(q.matches(view) for q in qs)}
