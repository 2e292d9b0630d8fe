"""The vote option parser the governance monitor reads `proposal_vote.option` with.

It lives with the chain formats (core/chain/voteoption.py, every format chains emit); this
module keeps the monitor's import path.
"""

from __future__ import annotations

from core.chain.chainstate import VoteChoice
from core.chain.voteoption import parse_vote_option

__all__ = ["VoteChoice", "parse_vote_option"]
