"""PLACEHOLDER until the formats branch lands."""

from __future__ import annotations

from msgspec import Struct


class SetMember(Struct, frozen=True, gc=False):
    address: str
    pub_key_type: str
    pub_key: str
    power: int


class ValidatorSet(Struct, frozen=True):
    height: int
    members: tuple[SetMember, ...]
