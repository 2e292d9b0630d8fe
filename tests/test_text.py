"""The one cut-with-ellipsis helper that Discord, Telegram, the renderer and the attempt log share."""

from __future__ import annotations

from core.support.text import ellipsize


def test_text_that_fits_is_unchanged_and_longer_text_is_cut_to_the_limit_with_an_ellipsis() -> None:
    assert ellipsize("abc", 3) == "abc"
    assert ellipsize("abcd", 3) == "ab…"
    assert len(ellipsize("x" * 5000, 2000)) == 2000


def test_a_counted_cut_says_how_long_the_whole_was_and_stays_within_the_limit() -> None:
    cut = ellipsize("x" * 5000, 200, counted=True)
    assert cut.endswith("… (5000 characters)") and len(cut) == 200
    assert ellipsize("abc", 3, counted=True) == "abc"
    assert ellipsize("abcdef", 5, counted=True) == "abcd…"  # no room for the count: a plain cut
