"""Keep the bot token out of every log line.

The Bot API puts the token in the URL path (`/bot<token>/getUpdates`), and httpx logs request
URLs at INFO, PTB logs network errors with their messages, and a traceback may repeat either. A
token in a log file is a stolen bot, so while the front door runs, a filter replaces the token
with `<token>` in every record on the way to our handlers: on the loggers that emit such records
(httpx, httpcore, telegram.*) and on the root logger's handlers, which also see what propagates.
"""

from __future__ import annotations

import logging

REDACTED = "<token>"
_NOISY_PREFIXES = ("httpx", "httpcore", "telegram")


class TokenRedactor(logging.Filter):
    """Rewrites a record's message, arguments and traceback text without the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token
        self._installed: list[logging.Filterer] = []

    def redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED) if self._token else text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._token in record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info and self._token in record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def install(self) -> None:
        """Attach to the noisy loggers that exist now and to the root logger's handlers."""
        targets: list[logging.Filterer] = [logging.getLogger(p) for p in _NOISY_PREFIXES]
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name.startswith(_NOISY_PREFIXES):
                targets.append(logger)
        targets += logging.getLogger().handlers
        for target in targets:
            if self not in target.filters:
                target.addFilter(self)
                self._installed.append(target)
        # httpx logs every request URL (with the token) at INFO: never below WARNING.
        httpx_logger = logging.getLogger("httpx")
        if httpx_logger.getEffectiveLevel() < logging.WARNING:
            httpx_logger.setLevel(logging.WARNING)

    def uninstall(self) -> None:
        for target in self._installed:
            target.removeFilter(self)
        self._installed.clear()
