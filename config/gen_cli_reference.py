"""Render the CLI reference from the typer app into docs/cli.md between the cli-reference markers.

Run `python config/gen_cli_reference.py` after changing a command; `--check` exits 1 when
docs/cli.md differs (tests/unit/test_cli_reference.py does the same check).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


# typer ships its own copy of click, so commands are told apart by their attributes, not their classes.
def _options(command) -> str:
    names = []
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            names.append("/".join(param.opts + param.secondary_opts))
        elif param.param_type_name == "argument":
            names.append((param.metavar or param.name).upper())
    return " ".join(f"`{n}`" for n in names)


def _rows(command, path: str) -> list[str]:
    if hasattr(command, "commands"):
        rows = []
        for name in sorted(command.commands):
            rows += _rows(command.commands[name], f"{path} {name}")
        return rows
    first_line = (command.help or "").strip().splitlines()[0] if command.help else ""
    return [f"| `{path}` | {first_line.replace('|', '/')} | {_options(command)} |"]


def render_reference() -> str:
    """Return the generated section: one table row per command."""
    from mailbridge.cli import app

    root = typer.main.get_command(app)
    lines = ["| command | what it does | arguments and options |", "|---|---|---|", *_rows(root, "mailbridge")]
    return "\n".join(lines)


def replace_section(document: str, section: str) -> str:
    """Put the section between the markers."""
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{section}\n{END}{tail}"


def main() -> int:
    document = DOC.read_text(encoding="utf-8")
    updated = replace_section(document, render_reference())
    if "--check" in sys.argv:
        return 0 if updated == document else 1
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
