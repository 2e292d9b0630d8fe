"""Guided conversations (`/subscribe`, the chain question of `/watch`), kept by the core's
ConversationService.

A flow is one small record per (chat, user), written after every step, so a restart of the
process continues exactly where the user was. Each flow has a random `nonce` that its buttons
carry: a button of an earlier or cancelled flow no longer matches and is answered as expired.
A flow untouched for `ttl` (1 hour) has expired; it is removed when next seen, and the user is
offered to continue it (`revive`) rather than made to start again.

The flow remembers its own message (`message_id`): every step, typed answers included, edits
that one message, so the chat shows one card that moves forward instead of a trail of prompts.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from core.services.clock import Clock, utcnow
from core.services.conversations import ConversationService

FlowKind = Literal["subscribe", "watch", "rename"]
FlowStep = Literal["chain", "preset", "param", "name", "confirm", "choose_chain"]
FLOW_TTL = timedelta(hours=1)


class Flow(msgspec.Struct, kw_only=True):
    chat_id: int
    user_id: int
    kind: FlowKind
    step: FlowStep
    nonce: str
    updated_at: datetime
    chain_id: str | None = None
    preset: str | None = None
    params: dict[str, str] = {}
    param_index: int = 0
    name: str | None = None
    address: str | None = None  # /watch: the address waiting for its chain
    choices: list[str] = []  # /watch: the chain ids offered
    message_id: int | None = None  # the flow's own message, edited at every step
    subscription_id: str | None = None  # rename: the subscription being renamed
    page: int = 0  # rename: the /list page its card came from (Back returns there)
    prompt_id: int | None = None  # in a group: the ForceReply prompt of the step, deleted once spent


class FlowExpiredError(Exception):
    """The flow existed but was left alone longer than the TTL (it has been removed)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        super().__init__(f"{flow.kind} flow expired")


class FlowStore:
    """At most one live flow per (chat, user); starting a new one replaces the old."""

    def __init__(self, conversations: ConversationService, *, ttl: timedelta = FLOW_TTL, clock: Clock = utcnow) -> None:
        self._conversations = conversations
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Flow)
        self.ttl = ttl
        self._clock = clock

    async def start(self, chat_id: int, user_id: int, kind: FlowKind, step: FlowStep, **fields: object) -> Flow:
        flow = Flow(
            chat_id=chat_id,
            user_id=user_id,
            kind=kind,
            step=step,
            nonce=secrets.token_urlsafe(4),
            updated_at=self._clock(),
            **fields,  # type: ignore[arg-type]  # Flow's optional fields; msgspec checks them
        )
        await self._conversations.save(_key(chat_id, user_id), self._encoder.encode(flow))
        return flow

    async def get(self, chat_id: int, user_id: int) -> Flow | None:
        """The live flow, None if there is none; FlowExpiredError (and removal) if it expired."""
        state = self._conversations.load(_key(chat_id, user_id))
        if state is None:
            return None
        flow = self._decoder.decode(state.data)
        if self._clock() - flow.updated_at > self.ttl:
            await self._conversations.end(_key(chat_id, user_id))
            raise FlowExpiredError(flow)
        return flow

    async def save(self, flow: Flow, *, touch: bool = True) -> None:
        """Store the flow; `touch` False keeps its time (recording the id of the message just
        sent for a step is not an answer, and must not move the expiry)."""
        if touch:
            flow.updated_at = self._clock()
        await self._conversations.save(_key(flow.chat_id, flow.user_id), self._encoder.encode(flow))

    async def revive(self, flow: Flow) -> Flow:
        """An expired flow back as a live one, where it was, with a new nonce: the buttons shown
        before it expired stay stale, the "Continue" button of the expiry notice works."""
        flow.nonce = secrets.token_urlsafe(4)
        await self.save(flow)
        return flow

    async def end(self, chat_id: int, user_id: int) -> bool:
        return await self._conversations.end(_key(chat_id, user_id))


def _key(chat_id: int, user_id: int) -> str:
    return f"telegram:{chat_id}:{user_id}"
