"""A CometBFT JSON-RPC node on loopback for offline use, demos, tests and benchmarks.

`DevnetChain` makes the blocks (generated deterministically from a seed, or replayed from
recordings); `DevnetServer` serves them over the real RPC shapes with optional faults.
See docs/DEVNET.md.
"""

from core.devnet.chain import ChainConfig, DevnetChain, InjectedTx
from core.devnet.faults import Faults
from core.devnet.server import DevnetServer

__all__ = ["ChainConfig", "DevnetChain", "DevnetServer", "Faults", "InjectedTx"]
