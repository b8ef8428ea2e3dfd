"""A typo in a filter is one line naming the valid values and a non-zero exit, never a silent "no tickets"."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    "option, value, expected",
    [
        (
            "--status",
            "bogus",
            "--status: unknown status 'bogus' (known: new, open, waiting, pending1, pending2, closed, spam, merged)",
        ),
        ("--contact", "Webmastr", "--contact: no Contact named 'Webmastr' (known: Customer service)"),
        ("--agent", "nobody@shop.example", "--agent: no agent with address 'nobody@shop.example'"),
    ],
)
def test_unknown_filter_value_is_one_line_naming_the_valid_ones(make_app, config_file, option, value, expected):
    make_app()
    result = run_cli("tickets", "list", option, value, config=config_file())
    assert result.returncode == 1
    # The schema check still logs alembic INFO lines before it (issue 17); the command's own output is one line.
    said = [line for line in result.stderr.splitlines() if line.startswith("mailbridge:")]
    assert len(said) == 1 and said[0].startswith("mailbridge: error: ") and expected in said[0]
    assert "no tickets" not in result.stdout


def test_known_filter_values_still_list(make_app, config_file):
    make_app()
    result = run_cli("tickets", "list", "--status", "open", "--contact", "Customer service", config=config_file())
    assert result.returncode == 0 and "no tickets" in result.stdout
