"""Loading settings from a TOML file and the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dialer.core.errors import ConfigError
from dialer.settings.model import Settings
from dialer.settings.parse import parse_settings

ENV_OVERRIDES = {
    "DIALER_DATABASE_URL": ("service", "database_url"),
    "DIALER_DATA_DIR": ("service", "data_dir"),
    "DIALER_PUBLIC_URL": ("service", "public_url"),
    "DIALER_AMI_HOST": ("ami", "host"),
    "DIALER_AMI_USERNAME": ("ami", "username"),
    "DIALER_AMI_SECRET": ("ami", "secret"),
    "DIALER_TWILIO_AUTH_TOKEN": ("sms", "twilio", "auth_token"),
    "DIALER_SMSAERO_API_KEY": ("sms", "smsaero", "api_key"),
}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for var, path in ENV_OVERRIDES.items():
        if var in env:
            node = raw
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = env[var]
    if "DIALER_AMI_PORT" in env:
        try:
            raw.setdefault("ami", {})["port"] = int(env["DIALER_AMI_PORT"])
        except ValueError:
            raise ConfigError("DIALER_AMI_PORT: нужен номер порта") from None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (or $DIALER_CONFIG), then apply environment overrides."""
    env = os.environ if env is None else env
    if path is None and env.get("DIALER_CONFIG"):
        path = Path(env["DIALER_CONFIG"])
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"нет файла настроек {path}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: ошибка TOML: {err}") from None
    _apply_env(raw, env)
    return parse_settings(raw, path.resolve() if path else None)
