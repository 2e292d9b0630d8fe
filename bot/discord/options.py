"""Checking an interaction's options against the command's declaration before it runs.

Discord validates options in its client, and discord.py trusts what arrives: a value of the wrong
type (a stale command registered with other option types, a hand-made request) would reach the
command as is and fail deep inside it. This check turns any such mismatch, or a missing required
option, into a `BadOption` that names the option, answered by the tree's error handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discord import AppCommandOptionType, app_commands

_SUBCOMMAND_TYPES = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)
_WHAT = {
    AppCommandOptionType.string: "text",
    AppCommandOptionType.integer: "a whole number",
    AppCommandOptionType.number: "a number",
    AppCommandOptionType.boolean: "true or false",
}


class BadOption(app_commands.CheckFailure):
    """An option is missing, of the wrong type, or out of its declared range; the message says which."""


def leaf_options(data: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The options of the innermost subcommand, by name."""
    options: list[dict[str, Any]] = list((data or {}).get("options") or [])
    while options and options[0].get("type") in _SUBCOMMAND_TYPES:
        options = list(options[0].get("options") or [])
    return {str(o.get("name")): o for o in options}


def _fits(kind: AppCommandOptionType, value: object) -> bool:
    if kind is AppCommandOptionType.string:
        return isinstance(value, str)
    if kind is AppCommandOptionType.integer:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is AppCommandOptionType.number:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is AppCommandOptionType.boolean:
        return isinstance(value, bool)
    return True  # users, channels, ...: resolved by discord.py itself


def check_options(command: app_commands.Command[Any, ..., Any], data: Mapping[str, Any] | None) -> None:
    """Raise `BadOption` unless every declared option is present when required and well-typed."""
    given = leaf_options(data)
    for param in command.parameters:
        name = param.display_name
        option = given.get(name)
        if option is None or option.get("value") is None:
            if param.required:
                raise BadOption(f"the option `{name}` is required")
            continue
        value = option["value"]
        what = _WHAT.get(param.type, param.type.name)
        if option.get("type") != param.type.value or not _fits(param.type, value):
            raise BadOption(f"the option `{name}` must be {what}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = param.min_value, param.max_value
            if (low is not None and value < low) or (high is not None and value > high):
                raise BadOption(f"the option `{name}` must be {what} from {low} to {high}")
