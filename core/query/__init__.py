"""The CometBFT query language, exactly (v0.38+), and the subscription index built on it.

parse / normalize      text -> Query (QuerySyntaxError with a position otherwise)
compile_query/matches  evaluate against one scope's `type.attr -> [values]` map
SubscriptionIndex      which subscriptions match a scope, without scanning them all
presets                friendly generators of queries (docs/QUERIES.md)
filters                post-filters (minimum amounts, same-transfer checks): extensions
"""

from __future__ import annotations

from core.query.compiler import CompiledQuery, compile_query, evaluate, matches
from core.query.errors import QuerySyntaxError, QueryTooLongError
from core.query.events import EventMap, EventView
from core.query.filters import MinAmountFilter, PostFilter, TransferFilter
from core.query.index import IndexStats, SubscriptionIndex
from core.query.parser import MAX_QUERY_LENGTH, normalize, parse
from core.query.syntax import ArgKind, Argument, Condition, Op, Query

__all__ = [
    "MAX_QUERY_LENGTH",
    "ArgKind",
    "Argument",
    "CompiledQuery",
    "Condition",
    "EventMap",
    "EventView",
    "IndexStats",
    "MinAmountFilter",
    "Op",
    "PostFilter",
    "Query",
    "QuerySyntaxError",
    "QueryTooLongError",
    "SubscriptionIndex",
    "TransferFilter",
    "compile_query",
    "evaluate",
    "matches",
    "normalize",
    "parse",
]
