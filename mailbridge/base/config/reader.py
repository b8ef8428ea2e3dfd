"""The reader of one configuration table: typed getters whose errors name the file, the key and what is expected.

Every section reader (settings, mailbox, rules, survey, ingest) reads its table through a `Section`, so an
error reads the same everywhere: `mailbridge.toml: [imap] port: expected an integer 1-65535, got "imap"`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, overload

from mailbridge.base.errors import ConfigError


@dataclass(frozen=True)
class Secret:
    """A secret value that never prints itself."""

    value: str
    source: str  # "env:NAME" or "file:PATH"

    def __repr__(self) -> str:
        return f"Secret(<masked>, from {self.source})"


class Section:
    """Reads typed keys of one TOML table and reports errors as `file: [section] key: ...`."""

    def __init__(self, path: Path, name: str, table: Any, known: set[str]):
        self.path, self.name = path, name
        if not isinstance(table, dict):
            self.fail(None, "expected a table", table)
        self.table = table
        for key in table:
            if key not in known:
                expected = ", ".join(sorted(known))
                raise ConfigError(f"{path}: [{name}] {key}: unknown key (known keys: {expected})")

    def fail(self, key: str | None, expected: str, got: Any) -> NoReturn:
        where = f"[{self.name}] {key}" if key else f"[{self.name}]"
        raise ConfigError(f"{self.path}: {where}: {expected}, got {got!r}")

    @overload
    def text(self, key: str, default: str, *, required: bool = False) -> str: ...
    @overload
    def text(self, key: str, default: None = None, *, required: Literal[True]) -> str: ...
    @overload
    def text(self, key: str, default: None = None, *, required: bool = False) -> str | None: ...

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.path}: [{self.name}] {key}: missing; it is required")
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "expected a non-empty string", value)
        return value.strip()

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in options:
            self.fail(key, "expected one of " + " | ".join(f'"{o}"' for o in options), value)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, "expected true or false", value)
        return value

    @overload
    def integer(self, key: str, default: int, low: int, high: int) -> int: ...
    @overload
    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None: ...

    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        value = self.table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"expected an integer {low}-{high}", value)
        return value

    def number(self, key: str, default: float, low: float, high: float | None = None) -> float:
        """A number from `low` (to `high`); TOML's inf and nan are refused like any other value out of range."""
        value = self.table.get(key, default)
        wanted = f"expected a number >= {low:g}" if high is None else f"expected a number from {low:g} to {high:g}"
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if not number or value < low or (high is not None and value > high):
            self.fail(key, wanted, value)
        return float(value)

    def secret(self, prefix: str = "password") -> Secret | None:
        env_key, file_key = f"{prefix}_env", f"{prefix}_file"
        if prefix in self.table:
            self.fail(prefix, f"a plain secret is not read from TOML; use {env_key} or {file_key}", "<masked>")
        env_name, file_name = self.text(env_key), self.text(file_key)
        if env_name and file_name:
            self.fail(env_key, f"expected either {env_key} or {file_key}, not both", env_name)
        if env_name:
            value = os.environ.get(env_name)
            if value is None:
                self.fail(env_key, f"expected environment variable {env_name} to be set", env_name)
            return Secret(value, f"env:{env_name}")
        if file_name:
            secret_path = self.relative_path(file_name)
            try:
                value = secret_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.fail(file_key, f"expected a readable file ({exc.strerror})", file_name)
            return Secret(value, f"file:{secret_path}")
        return None

    def relative_path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.path.parent / candidate)
