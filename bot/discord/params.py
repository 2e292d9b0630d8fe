"""Preset parameters typed into one slash-command option: `address=cosmos1… min_amount=5`.

A slash command cannot have options per preset, so `/mempools subscribe` takes the parameters as
text. Pairs are split at spaces, commas or semicolons, but only where the next word is one of the
preset's own parameter names followed by `=`: a value such as `attributes=action=swap,pair=x`
keeps its commas. A preset with one required parameter also takes the bare value
(`params: cosmos1…`), which is what people type first.
"""

from __future__ import annotations

import re

from core.errors import ValidationError
from core.query.presets import PresetSpec

MAX_PARAMS_TEXT = 1000


def parse_params(text: str | None, preset: PresetSpec) -> dict[str, str]:
    """The `name -> value` map for `preset`; ValidationError naming what is wrong."""
    if text is None or not text.strip():
        return {}
    text = text.strip()
    if len(text) > MAX_PARAMS_TEXT:
        raise ValidationError(f"params: at most {MAX_PARAMS_TEXT} characters")
    names = [p.name for p in preset.params]
    required = [p.name for p in preset.params if p.required]
    if "=" not in text and len(required) == 1:
        return {required[0]: text}
    if not names:
        raise ValidationError(f"params: the preset {preset.name} takes no parameters")
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pairs = re.split(rf"[\s,;]+(?=(?:{alternatives})\s*=)", text)
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"params: {pair.strip()!r} is not name=value; {preset.name} takes {', '.join(names)}")
        if key not in names:
            raise ValidationError(f"params: {preset.name} has no parameter {key!r}; it takes {', '.join(names)}")
        if key in found:
            raise ValidationError(f"params: {key} is given twice")
        found[key] = value.strip().rstrip(",;").strip()
    return found
