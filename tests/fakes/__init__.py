"""Local servers that speak real protocols (Telegram Bot API, Discord REST, webhook receivers).

They bind 127.0.0.1 on a free port, record what they receive, and fail on request, so tests
run the real client libraries end to end without the internet.
"""
