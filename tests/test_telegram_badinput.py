"""Bad input: unknown commands, missing or garbage arguments, odd Unicode, stale and forged presses."""

from __future__ import annotations

import pytest

from tests.apikit import BOB
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/frobnicate", "I don't know /frobnicate. Send /help for the commands."),
        ("/<b>x</b>", "I don't know /&lt;b&gt;x&lt;/b&gt;."),
        ("/pause", "Usage: /pause &lt;id&gt;"),
        ("/resume    ", "Usage: /resume &lt;id&gt;"),
        ("/unsubscribe sub_nope", "Subscription not found. Use /list"),
        ("/pause \u202esub_\u0000💥", "Subscription not found."),
        ("/pause " + "x" * 3000, "Subscription not found."),
        ("/watch 💰💰💰", "is not a valid bech32 address"),
        ("/watch \u200b\u200f\ufeff", "The address: a bech32 address is required."),
        (f"/watch {BOB} {BOB} {BOB}", "Usage: /watch"),
        (f"/watch {BOB} nochain-1", "&#x27;nochain-1&#x27; is not a configured chain"),
        (f"/watch {BOB}\u0000", "Subscribed"),  # a NUL pasted along is not part of the address
        ("/subscribe nochain-1", "&#x27;nochain-1&#x27; is not a configured chain"),
        ("/subscribe testchain-1 tm.event = 'Tx' AND \u202e", "That query does not parse"),
        ("/subscribe testchain-1 💥", "That query does not parse"),
        ("/history -3", "Usage: /history [n]"),
        ("/history \uff13", "Usage: /history [n]"),  # a full-width digit
        ("/link", "The link code is required, e.g. /link ABCD2345."),
        ("/link \u0000\u200b", "The link code is required, e.g. /link ABCD2345."),
        ("/link 🙂🙂🙂", "not valid or has expired"),
        ("\u200f\u200b", "I understand commands"),
        ("مرحبا 👋", "I understand commands"),
    ],
)
async def test_a_short_helpful_answer_and_nothing_changed(rig: BotRig, text: str, expected: str) -> None:
    [reply] = await rig.say(text)
    assert expected in reply.text
    assert len(reply.text) < 1000
    subs = list(rig.env.repos.subscriptions.scan())
    assert subs == [] or (expected == "Subscribed" and len(subs) == 1)


async def test_query_error_is_escaped_in_a_pre_block(rig: BotRig) -> None:
    [reply] = await rig.say("/subscribe testchain-1 transfer.recipient = '<script>' AND &")
    assert "<pre>transfer.recipient = &#x27;&lt;script&gt;&#x27; AND &amp;\n" in reply.text
    assert "<script>" not in reply.text


async def test_forged_or_old_flow_buttons_are_refused_and_change_nothing(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    good = button(menu, "Funds received")
    verb, nonce, choice, sig = good.split("|")
    for data in (f"{verb}|{nonce}|p0|AAAAAAAA", f"{verb}|{nonce}|{choice}", f"{verb}|xxxx|{choice}|{sig}", "f||"):
        answer = await rig.press(data, message=menu)
        assert answer["show_alert"] and answer["text"] == "This button is not valid here."
    assert api.edits == []  # the flow's message is untouched ...
    await rig.press(good, message=menu)  # ... and the real button still works
    assert "Parameter 1/4: <b>address</b>" in api.edits[-1].text
    assert list(rig.env.repos.subscriptions.scan()) == []


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("x" * 10_000, None), ("   \t ", None), ("\u200b\u200f\ufeff", None), ("🐋🐋🐋", "🐋🐋🐋"), (" ok \u200b", "ok")],
)
async def test_the_name_step_takes_a_sensible_name_only(
    rig: BotRig, api: FakeTelegramApi, name: str, accepted: str | None
) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    await rig.press(button(menu, "Governance voting ended"), message=menu)
    await rig.press(button(api.edits[-1], "Skip"), message=menu)
    await rig.press(button(api.edits[-1], "passed"), message=menu)
    assert await rig.say(name, expect=0) == []
    shown = api.edits[-1]
    assert shown.params["message_id"] == menu.params["message_id"] and len(shown.text) < 1000
    if accepted is None:
        assert "name: 1 to 100 printable characters" in shown.text and "Name it" in shown.text
    else:
        assert shown.text.startswith(f"Create <b>{accepted}</b> on Test chain?")
    assert list(rig.env.repos.subscriptions.scan()) == []
