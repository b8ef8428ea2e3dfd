"""`mailbridge templates list|preview` through the real command."""

import json

from tests.conftest import run_cli


def test_templates_list_shows_every_locale_of_the_receipt(config_file):
    result = run_cli("templates", "list", "--json", config=config_file())
    assert result.returncode == 0, result.stderr
    locales = {row["locale"] for row in json.loads(result.stdout) if row["kind"] == "receipt"}
    assert {"en", "it", "cs", "el", "de"} <= locales


def test_templates_preview_renders_in_the_asked_locale(config_file):
    result = run_cli("templates", "preview", "receipt", "--locale", "cs", config=config_file())
    assert result.returncode == 0 and "tiket [#48213907751]" in result.stdout


def test_templates_preview_html_is_escaped_html(config_file):
    result = run_cli("templates", "preview", "receipt", "--html", config=config_file())
    assert result.stdout.lstrip().startswith("<!DOCTYPE html>")


def test_site_override_is_listed_and_used(config_file, tmp_path):
    (tmp_path / "site" / "receipt").mkdir(parents=True)
    (tmp_path / "site" / "receipt" / "en.txt.j2").write_text("Our own receipt for {{ number }}\n")
    path = config_file()
    path.write_text('templates_dir = "site"\n' + path.read_text())
    assert run_cli("templates", "preview", "receipt", config=path).stdout == "Our own receipt for 48213907751\n"
    listed = json.loads(run_cli("templates", "list", "--json", config=path).stdout)
    assert any("site" in part for row in listed if row["kind"] == "receipt" for part in row["parts"])


def test_unknown_template_kind_is_one_line_and_exit_1(config_file):
    result = run_cli("templates", "preview", "nope", config=config_file())
    assert result.returncode == 1
    assert result.stderr.strip() == "mailbridge: error: no template kind 'nope'; see `mailbridge templates list`"


def test_usage_errors_are_one_line_and_exit_2(config_file):
    missing = run_cli("tickets", "show", config=config_file())
    unknown = run_cli("tickets", "list", "--bogus", config=config_file())
    for result in (missing, unknown):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("mailbridge: error: ")
    assert "Missing argument" in missing.stderr and "--bogus" in unknown.stderr


def test_unreadable_file_option_is_one_line(config_file):
    result = run_cli("texts", "add", "returns", "--file", "/nonexistent/returns.txt", config=config_file())
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "mailbridge: error: --file: cannot read /nonexistent/returns.txt (No such file or directory)"
    )
