"""What every sub-command shares: the chosen config path, loading settings, building the app, JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import typer

from mailbridge.app import App, build_app
from mailbridge.config import Settings, find_config, load_settings


@dataclass
class CliState:
    config_path: str | None = None


state = CliState()


def settings() -> Settings:
    """Load the configuration chosen by --config, $MAILBRIDGE_CONFIG or ./mailbridge.toml."""
    return load_settings(find_config(state.config_path))


def open_app() -> App:
    """Build the app from the chosen configuration (upgrading the schema)."""
    return build_app(settings())


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=_plain, indent=2, ensure_ascii=False))
