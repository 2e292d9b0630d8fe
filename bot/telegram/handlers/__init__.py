"""Handlers per command group: basics, managing subscriptions, the guided conversations."""
