"""Several notifications of one block as ONE chat message (issue #15: one message per chat).

The block processor bundles the notifications of a block that go to one chat
(`core.watch.grouping`); this module says how such a bundle reads. It composes `render()` of each
notification and relies only on what a `Rendered` carries, so the templates can change under it:

- one transaction that several subscriptions matched: the subscriptions' names together in the
  title ("Alice's wallet · Treasury") and the transaction's story once: the first headline leads,
  each other distinct one follows on a line of its own (subscriptions watching different
  addresses tell it from their own side);
- several transactions: a count and, when every one is a transfer, the amounts moved summed
  per denom ("5 transfers, 7.5 ATOM in all"; otherwise "5 matches"), then one short line per
  transaction with its link, at most `MAX_LINES` of them ("… and 3 more").

A bundle of several transactions has no single link (`url` None), so channels show no [Tx]
button for it; a bundle of several subscriptions has no [Pause] [Mute 1 h] either
(`controlled_subscription`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

import msgspec

from core.dispatch.render import Field, Rendered, format_coin, render, short_hash
from core.models import Chain, Notification
from core.query.addresses import module_address
from core.support.text import ellipsize

#: Lines (transactions, or headlines of one transaction) a bundle shows; the rest are counted.
MAX_LINES = 10
#: One transaction's line is a glance, not its story.
LINE_LIMIT = 120
TITLE_LIMIT = 200

_COIN = re.compile(r"^\s*(\d+)\s*([a-zA-Z][a-zA-Z0-9/:._-]{1,127})\s*$")


def controlled_subscription(notifications: Sequence[Notification]) -> str | None:
    """The subscription a bundle's [Pause] and [Mute 1 h] act on: its only one. None when it
    names several: a press could not say which it pauses, and pausing the first would surprise."""
    ids = {n.subscription_id for n in notifications}
    return ids.pop() if len(ids) == 1 else None


def render_bundle(notifications: Sequence[Notification], chain: Chain | None) -> Rendered:
    """ONE message for `notifications` (block order, the first leads); `render()` for one."""
    if not notifications:
        raise ValueError("an empty bundle has nothing to render")
    if len(notifications) == 1:
        return render(notifications[0], chain)
    rendered = [render(n, chain) for n in notifications]
    title = ellipsize(" · ".join(_distinct(r.title for r in rendered)), TITLE_LIMIT)
    scopes: dict[tuple[int, int | None], list[int]] = {}
    for i, notification in enumerate(notifications):
        scopes.setdefault((notification.height, notification.tx_index), []).append(i)
    if len(scopes) == 1:
        return _one_scope(rendered, title)
    return _several_scopes(notifications, rendered, [group[0] for group in scopes.values()], title, chain)


def _one_scope(rendered: Sequence[Rendered], title: str) -> Rendered:
    """One transaction matched by several subscriptions: its story once."""
    first, *others = _distinct(r.headline for r in rendered)
    shown = [Field(name="", value=h) for h in others[: MAX_LINES - 1]]
    if len(others) > len(shown):
        shown.append(Field(name="", value=_more(len(others) - len(shown))))
    return msgspec.structs.replace(rendered[0], title=title, headline=first, fields=(*shown, *rendered[0].fields))


def _several_scopes(
    notifications: Sequence[Notification],
    rendered: Sequence[Rendered],
    firsts: Sequence[int],
    title: str,
    chain: Chain | None,
) -> Rendered:
    """Several transactions (of one subscription or more): a total, then a line for each."""
    count = len(firsts)
    moved = [_transferred(notifications[i], chain) for i in firsts]
    if all(moved):
        totals: dict[str, int] = {}
        for coins in moved:
            for amount, denom in coins:
                totals[denom] = totals.get(denom, 0) + amount
        amounts = " + ".join(format_coin(str(amount), denom, chain) for denom, amount in totals.items())
        headline = f"{count} transfers, {amounts} in all" if len(totals) <= 3 else f"{count} transfers"
    else:
        headline = f"{count} matches"
    lines = [_line(notifications[i], rendered[i]) for i in firsts[:MAX_LINES]]
    if count > MAX_LINES:
        lines.append(Field(name="", value=_more(count - MAX_LINES)))
    return msgspec.structs.replace(
        rendered[0],
        title=title,
        headline=headline,
        fields=tuple(lines),
        url=None,
        summary=headline,
        tx_hash=None,
        failed=all(rendered[i].failed for i in firsts),
    )


def _line(notification: Notification, rendered: Rendered) -> Field:
    """The transaction's headline, linked to the explorer when the chain has one (else its short
    hash, to find it by)."""
    mark = "❌ " if rendered.failed and not rendered.headline.startswith("❌") else ""
    text = ellipsize(mark + rendered.headline, LINE_LIMIT)
    if rendered.url is None:
        where = short_hash(notification.tx_hash) if notification.tx_hash else f"block {notification.height}"
        text = f"{text} · {where}"
    return Field(name="", value=text, url=rendered.url)


def _transferred(notification: Notification, chain: Chain | None) -> list[tuple[int, str]]:
    """(amount, denom) of every coin the transaction's transfers moved, the fee payment left out
    (the one to the fee collector); with a watched address, only the transfers it is party to.
    Empty when the transaction moved nothing, or an amount is not plain coins."""
    fee_sink = module_address("fee_collector", chain.bech32_prefix) if chain is not None else None
    coins: list[tuple[int, str]] = []
    for event in notification.events:
        if event.type != "transfer":
            continue
        attrs: dict[str, str] = {}
        for attribute in event.attributes:
            attrs.setdefault(attribute.key, attribute.value)
        if not attrs.get("amount") or (fee_sink is not None and attrs.get("recipient") == fee_sink):
            continue
        focus = notification.focus
        if focus and focus not in (attrs.get("sender"), attrs.get("recipient")):
            continue
        for part in attrs["amount"].split(","):
            match = _COIN.match(part)
            if match is None:
                return []
            coins.append((int(Decimal(match.group(1))), match.group(2)))
    return coins


def _distinct(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def _more(count: int) -> str:
    return f"… and {count} more"
