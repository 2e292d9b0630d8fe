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

Identical queries (by normalised text) are compiled and evaluated once per scope however many
subscriptions share them; a subscription holds one or more queries and fires once if any matches
(and its optional post-filter accepts the scope).
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
        "tm.event",
        "tx.height",
        "tx.hash",
        "tx.code",
        "block.height",
        "tx.fee",
        "tx.acc_seq",
        "tx.signature",
        "tx.fee_payer",
        "message.action",
        "message.module",
        "message.msg_index",
        "coin_spent.amount",
        "coin_received.amount",
        "transfer.amount",
        "tx",
        "message",
        "transfer",
        "coin_spent",
        "coin_received",
    }
)

_Anchor = tuple[str, str, str | None]  # ("eq", tag, value) | ("has", tag, None)


class IndexStats(Struct, frozen=True):
    subscriptions: int
    distinct_queries: int
    equality_anchors: int
    presence_anchors: int


class _Node:
    """One distinct query, the subscriptions holding it, and where it is filed."""

    __slots__ = ("anchor", "query", "subs")

    def __init__(self, query: CompiledQuery, anchor: _Anchor) -> None:
        self.query = query
        self.anchor = anchor
        self.subs: dict[Hashable, _Sub] = {}


class _Sub:
    __slots__ = ("id", "nodes", "post_filter")

    def __init__(self, sub_id: Hashable, nodes: tuple[_Node, ...], post_filter: PostFilter | None) -> None:
        self.id = sub_id
        self.nodes = nodes
        self.post_filter = post_filter


class SubscriptionIndex(Generic[SubId]):
    """Subscriptions (opaque hashable ids) -> compiled queries, indexed for per-scope matching.

    Not thread-safe: meant to be owned by one event loop (the matcher of one chain).
    """

    def __init__(self) -> None:
        self._subs: dict[SubId, _Sub] = {}
        self._nodes: dict[str, _Node] = {}
        self._eq: dict[str, dict[str, set[_Node]]] = {}
        self._has: dict[str, set[_Node]] = {}
        # condition text -> [shared compiled condition, number of distinct queries using it]
        self._conditions: dict[str, list[Any]] = {}

    # -- maintenance ------------------------------------------------------------------------

    def add(
        self,
        sub_id: SubId,
        queries: Iterable[str | Query | CompiledQuery],
        post_filter: PostFilter | None = None,
    ) -> None:
        """Add a subscription. Raises `KeyError` if the id exists, `QuerySyntaxError` for an
        invalid query and `ValueError` for no query; on any error the index is unchanged."""
        if sub_id in self._subs:
            raise KeyError(f"subscription {sub_id!r} is already indexed")
        self._insert(sub_id, self._compile_all(queries), as_post_filter(post_filter))

    def update(
        self,
        sub_id: SubId,
        queries: Iterable[str | Query | CompiledQuery],
        post_filter: PostFilter | None = None,
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
            del node.subs[sub_id]
            if not node.subs:
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
        if not view.events:
            return set()
        result: set[SubId] = set()
        candidates = self._candidates(view)
        if not candidates:
            return result
        rejected: set[SubId] = set()
        verdicts: dict[object, bool] = {}
        for node in candidates:
            if not node.query.matches(view):
                continue
            for sub_id, sub in node.subs.items():
                if sub_id in result or sub_id in rejected:
                    continue
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
        for key, values in view.events.items():
            by_value = eq.get(key)
            if by_value is not None:
                for v in values:
                    bucket = by_value.get(v)
                    if bucket:
                        found.update(bucket)
            bucket = has.get(key)
            if bucket:
                found.update(bucket)
        for t in view.types:
            bucket = has.get(t)
            if bucket:
                found.update(bucket)
            by_value = eq.get(t)
            if by_value is not None:
                bucket = by_value.get("")
                if bucket:
                    found.update(bucket)
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

    def _compile_all(self, queries: Iterable[str | Query | CompiledQuery]) -> list[CompiledQuery]:
        if isinstance(queries, (str, Query, CompiledQuery)):
            queries = [queries]
        compiled: dict[str, CompiledQuery] = {}
        for q in queries:
            text = q.text if isinstance(q, CompiledQuery) else None
            if text is not None and text in self._nodes:
                compiled[text] = self._nodes[text].query
                continue
            c = self._compile(q)
            compiled.setdefault(c.text, c)
        if not compiled:
            raise ValueError("a subscription needs at least one query")
        return list(compiled.values())

    def _compile(self, q: str | Query | CompiledQuery) -> CompiledQuery:
        """Compile, sharing the query and its condition objects with what is already indexed."""
        c = compile_query(q)
        node = self._nodes.get(c.text)
        if node is not None:
            return node.query
        shared = []
        for cond in c.conditions:
            key = str(cond.condition)
            entry = self._conditions.get(key)
            shared.append(entry[0] if entry is not None else cond)
        return CompiledQuery(c.query, tuple(shared))

    def _insert(self, sub_id: SubId, queries: list[CompiledQuery], post_filter: PostFilter | None) -> None:
        nodes = []
        for q in queries:
            node = self._nodes.get(q.text)
            if node is None:
                node = self._new_node(q)
            nodes.append(node)
        sub = _Sub(sub_id, tuple(nodes), post_filter)
        for node in nodes:
            node.subs[sub_id] = sub
        self._subs[sub_id] = sub

    def _new_node(self, query: CompiledQuery) -> _Node:
        for cond in query.conditions:
            entry = self._conditions.get(str(cond.condition))
            if entry is None:
                self._conditions[str(cond.condition)] = [cond, 1]
            else:
                entry[1] += 1
        anchor = min((self._anchor_of(c) for c in query.conditions), key=self._anchor_rank)
        node = _Node(query, anchor)
        kind, tag, value = anchor
        if kind == "eq":
            assert value is not None
            self._eq.setdefault(tag, {}).setdefault(value, set()).add(node)
        else:
            self._has.setdefault(tag, set()).add(node)
        self._nodes[query.text] = node
        return node

    def _drop_node(self, node: _Node) -> None:
        del self._nodes[node.query.text]
        kind, tag, value = node.anchor
        if kind == "eq":
            assert value is not None
            by_value = self._eq[tag]
            bucket = by_value[value]
            bucket.discard(node)
            if not bucket:
                del by_value[value]
                if not by_value:
                    del self._eq[tag]
        else:
            bucket = self._has[tag]
            bucket.discard(node)
            if not bucket:
                del self._has[tag]
        for cond in node.query.conditions:
            key = str(cond.condition)
            entry = self._conditions[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._conditions[key]

    @staticmethod
    def _anchor_of(cond: CompiledCondition) -> _Anchor:
        if isinstance(cond, _StringEq):
            return ("eq", cond.tag, cond.value)
        return ("has", cond.tag, None)

    def _anchor_rank(self, anchor: _Anchor) -> tuple[int, int, int]:
        kind, tag, value = anchor
        if kind == "eq" and value:
            size = len(self._eq.get(tag, {}).get(value, ()))
            kind_rank = 0
        else:
            size = len(self._has.get(tag, ()))
            kind_rank = 1
        return (tag in GENERIC_TAGS, kind_rank, size)


def match_all(subscriptions: Mapping[SubId, Iterable[CompiledQuery]], events: EventMap | EventView) -> set[SubId]:
    """The naive reference: evaluate every query of every subscription (tests, benchmarks)."""
    view = as_view(events)
    return {sid for sid, qs in subscriptions.items() if any(q.matches(view) for q in qs)}
