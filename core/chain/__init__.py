"""Reading CometBFT chains: RPC access (`rpc`), block decoding (`decoder`) and the block model (`blocks`).

Nothing here knows about subscriptions or delivery; the watcher composes these pieces.
"""
