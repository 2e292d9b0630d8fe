"""The Discord bot: `/mempools` slash commands in servers and DMs, over `bot.actions`.

The runtime builds one `DiscordFrontDoor(config.discord, services, send_sample=...)`, hands
`front_door.client` to the dispatcher's `DiscordChannel`, and runs `front_door.run(stop)` under
its supervisor when `front_door.enabled` (a token is configured). One process runs one Discord bot:
see `bot.discord.frontdoor` for why.
"""

from bot.discord.frontdoor import DiscordFrontDoor, DiscordLoginError, discord_endpoints

__all__ = ["DiscordFrontDoor", "DiscordLoginError", "discord_endpoints"]
