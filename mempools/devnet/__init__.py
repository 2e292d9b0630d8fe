"""A CometBFT JSON-RPC node on loopback for offline use, demos, tests and benchmarks.

`DevnetChain` makes the blocks (generated deterministically from a seed, or replayed from
recordings); `DevnetServer` serves them over the real RPC shapes with optional faults. A validator set
(staking.py), slashing and governance (gov.py) change block by block; rest.py answers the
Cosmos REST queries about them.
See docs/DEVNET.md.
"""

from mempools.devnet.chain import ChainConfig, ChainState, DevnetChain, InjectedTx
from mempools.devnet.faults import Faults
from mempools.devnet.server import DevnetServer
from mempools.devnet.validators import DevnetValidator

__all__ = ["ChainConfig", "ChainState", "DevnetChain", "DevnetServer", "DevnetValidator", "Faults", "InjectedTx"]
