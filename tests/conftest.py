"""Shared pytest configuration."""

import tests.hypothesis_profiles  # noqa: F401 - registers and loads the Hypothesis profile before any test

pytest_plugins = ["tests.asterisk_plugin", "tests.postgres_plugin"]
