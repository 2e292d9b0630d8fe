"""State of multi-step chat conversations (guided flows), kept between messages and restarts.

A front door owns what its state means; this service only keeps it, keyed by the front door
(`telegram:<chat>:<user>`), with the time it was last touched so expiry can be decided. Front
doors never reach the store directly: this is their way to remember a conversation.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.services.clock import Clock, utcnow
from core.store.base import KVStore
from core.store.collection import Collection


class ConversationState(msgspec.Struct, kw_only=True):
    key: str
    data: bytes  # the front door's own encoding of its flow
    updated_at: datetime


class ConversationService:
    def __init__(self, store: KVStore, *, clock: Clock = utcnow) -> None:
        self._states: Collection[ConversationState] = Collection(store, "conv", ConversationState, lambda s: (s.key,))
        self._clock = clock

    def load(self, key: str) -> ConversationState | None:
        return self._states.get(key)

    async def save(self, key: str, data: bytes) -> ConversationState:
        state = ConversationState(key=key, data=data, updated_at=self._clock())
        await self._states.save(state)
        return state

    async def end(self, key: str) -> bool:
        return await self._states.remove(key) is not None
