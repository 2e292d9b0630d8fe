"""The Discord bot: `/mempools` slash commands in servers and DMs, over `bot.actions`.

The runtime builds one `DiscordFrontDoor(config.discord, services, send_sample=...)`, hands
`front_door.client` and `front_door.signer` to the dispatcher's `DiscordChannel` (so the
[Pause] [Mute 1 h] it draws under notifications are the ones this bot answers), and runs
`front_door.run(stop)` under its supervisor when `front_door.enabled` (a token is configured).
Buttons and menus (`buttons`, `listing`, `guided`) are answered from their signed custom_id in
the client's `on_interaction`. One process runs one Discord bot:
see `bot.discord.frontdoor` for why.
"""

from bot.discord.frontdoor import DiscordFrontDoor, DiscordLoginError, discord_endpoints

__all__ = ["DiscordFrontDoor", "DiscordLoginError", "discord_endpoints"]
