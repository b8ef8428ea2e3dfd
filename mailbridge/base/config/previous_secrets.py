"""[support] previous_secrets_env | previous_secrets_file: secrets retired by `mailbridge secret rotate`.

They still verify what they signed (reply tokens, survey links, our Message-IDs) and sign nothing new. Read by
`settings._support`; written (the file form) by `cli.setup.secret_cmd`. The file holds one secret per line, `#`
comments and blank lines ignored; the variable holds them separated by commas or line breaks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date

from mailbridge.base.config.reader import Secret, Section

PREVIOUS_SECRETS_KEYS = {"previous_secrets_env", "previous_secrets_file"}


@dataclass(frozen=True)
class PreviousSecrets:
    secrets: tuple[Secret, ...]
    source: str | None  # "env:NAME" or "file:PATH" where they are kept; None: not configured


def read_previous_secrets(section: Section, secret: Secret | None) -> PreviousSecrets:
    """Read the retired secrets; a configured file that does not exist yet (before a first rotation) holds none."""
    env_name, file_name = section.text("previous_secrets_env"), section.text("previous_secrets_file")
    if env_name and file_name:
        section.fail("previous_secrets_env", "expected either previous_secrets_env or previous_secrets_file", env_name)
    if (env_name or file_name) and secret is None:
        key = "previous_secrets_env" if env_name else "previous_secrets_file"
        section.fail(key, "expected secret_env or secret_file beside it (the current secret)", env_name or file_name)
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            section.fail("previous_secrets_env", f"expected environment variable {env_name} to be set", env_name)
        return PreviousSecrets(_secrets(re.split(r"[,\r\n]", value), f"env:{env_name}"), f"env:{env_name}")
    if not file_name:
        return PreviousSecrets((), None)
    path = section.relative_path(file_name)
    if secret is not None and secret.source == f"file:{path}":
        section.fail("previous_secrets_file", "expected a file other than secret_file", file_name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        section.fail("previous_secrets_file", f"expected a readable file ({exc.strerror})", file_name)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return PreviousSecrets(_secrets(lines, f"file:{path}"), f"file:{path}")


def _secrets(values: list[str], source: str) -> tuple[Secret, ...]:
    return tuple(Secret(v.strip(), source) for v in values if v.strip())


def keep_previous(text: str, secret: str, day: date) -> str:
    """The previous-secrets file `text` with `secret` appended under a dated comment; unchanged when it is listed."""
    if secret in (line.strip() for line in text.splitlines()):
        return text
    start = text if not text or text.endswith("\n") else text + "\n"
    return f"{start}# retired {day.isoformat()} by mailbridge secret rotate\n{secret}\n"
