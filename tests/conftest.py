"""Shared pytest configuration."""

pytest_plugins = ["tests.asterisk_plugin"]
