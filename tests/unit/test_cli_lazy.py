"""The CLI imports only what the command it runs needs; the root help is built from the COMMANDS table alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mailbridge.cli import COMMANDS, command_named, make_app


def _help(app) -> str:
    return CliRunner().invoke(app, ["--help"], prog_name="mailbridge", terminal_width=100).output


def test_the_root_help_from_the_table_is_the_help_of_the_real_commands():
    assert _help(make_app(listing=True)) == _help(make_app())


def test_every_table_entry_names_a_command_with_the_same_help():
    import importlib

    import typer

    for name, (module, attribute, help_text) in COMMANDS.items():
        target = getattr(importlib.import_module(module), attribute)
        real = target.info.help if isinstance(target, typer.Typer) else (target.__doc__ or "").strip().splitlines()[0]
        assert real == help_text, name


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ([], None),
        (["--version"], None),
        (["tickets", "list"], "tickets"),
        (["-c", "x.toml", "status", "--json"], "status"),
        (["--config", "tickets", "run"], "run"),  # the value of --config is not the command
        (["-v", "--config=x.toml", "outbox", "list"], "outbox"),
        (["bogus"], "bogus"),
    ],
)
def test_command_named_skips_the_root_options(args, name):
    assert command_named(args) == name


def _modules_after(*args: str) -> set[str]:
    script = (
        "import sys\n"
        f"sys.argv = ['mailbridge', *{list(args)!r}]\n"
        "from mailbridge.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(done.stderr.split())


def test_version_and_root_help_load_no_database_or_mail_library():
    for args in (["--version"], ["--help"]):
        loaded = _modules_after(*args)
        assert not {"sqlalchemy", "sqlmodel", "alembic", "imapclient", "aiosmtplib", "jinja2"} & loaded, args
        assert not any(m.startswith("mailbridge.cli.setup.") for m in loaded), args


def test_a_command_loads_only_its_own_module():
    loaded = _modules_after("templates", "--help")
    assert "mailbridge.cli.setup.templates_cmd" in loaded
    assert "mailbridge.cli.operate.tickets_cmd" not in loaded
    assert "mailbridge.cli.setup.init_cmd" not in loaded
