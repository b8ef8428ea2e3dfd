"""The CLI reference in docs/cli.md is generated from the typer app; every command documents an example."""

from __future__ import annotations

import importlib.util

import typer

from mailbridge.cli import app
from tests.conftest import REPO


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", REPO / "config" / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leaf_commands(command, path="mailbridge"):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaf_commands(sub, f"{path} {name}")
    else:
        yield path, command


def test_cli_reference_doc_matches_the_code():
    generator = load_generator()
    document = generator.DOC.read_text(encoding="utf-8")
    assert generator.replace_section(document, generator.render_reference()) == document, (
        "docs/cli.md CLI reference is stale: run python config/gen_cli_reference.py"
    )


def test_every_command_help_has_an_example():
    missing = [
        path for path, command in leaf_commands(typer.main.get_command(app)) if "Example:" not in (command.help or "")
    ]
    assert missing == []


def test_shell_completion_is_offered():
    params = {p.name for p in typer.main.get_command(app).params}
    assert {"install_completion", "show_completion", "version"} <= params
