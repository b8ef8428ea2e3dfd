"""`python -m mailbridge` as a program: the entry point's smoke test (CLI logic is tested in-process).

The end-to-end run of real commands as processes is tests/integration/test_init_cli.py's first test.
"""

from mailbridge import __version__
from tests.conftest import run_cli_process


def test_version_runs_as_a_program():
    result = run_cli_process("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mailbridge {__version__}\n"
