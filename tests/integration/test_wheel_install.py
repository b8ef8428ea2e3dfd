"""The wheel as a user gets it: built from the sources, installed into a fresh virtualenv outside the tree, run there.

The wheel must carry everything mailbridge reads at run time (mail templates, the example configuration `init`
starts from, the migrations) and its license, and the commands must work from a directory with no checkout in it.

No network is needed. The wheel is built by the build backend of this test environment (setuptools>=77, in the test
extra) without build isolation, so pip fetches nothing. The dependencies are not downloaded again either: the fresh
virtualenv sees this test environment's site-packages through a .pth line placed after its own, `pip check` there
proves the wheel's declared requirements are met, and `mailbridge` itself is imported from the wheel (asserted),
never from the source tree.
"""

from __future__ import annotations

import email
import email.policy
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from mailbridge import __version__
from tests.conftest import REPO, SUPPORT_USER, customer_mail
from tests.integration.test_init_cli import init_flags

DIST = "mailbridge_desk"  # the distribution's name in file names (mailbridge-desk on the index)
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "mailbridge")  # what an sdist of the project holds
BACKEND = 77  # the oldest setuptools that reads `license = "MIT"` and `license-files` (pyproject's build-system)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """Run a command; the environment never points Python at the source tree."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the build inputs (the shared tree gets no build/ or egg-info)."""
    setuptools = importlib.metadata.version("setuptools")
    if int(setuptools.split(".")[0]) < BACKEND:
        reason = f"cannot build the wheel offline: setuptools {setuptools} < {BACKEND}; install the test extra"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("wheel-build")
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "-v", "--no-index", "--no-build-isolation", "--no-deps"]
    result = run([*build, "-w", str(root / "dist"), str(source)], root)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Deprecat" not in output, "the build warns about something deprecated:\n" + output[-5000:]
    [built] = (root / "dist").glob(f"{DIST}-{__version__}-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh virtualenv outside the source tree with the wheel installed; returns its bin directory."""
    home = tmp_path_factory.mktemp("wheel-venv")
    assert not home.is_relative_to(REPO)
    made = run([sys.executable, "-m", "venv", str(home / "venv")], home)
    assert made.returncode == 0, made.stderr
    bin_dir = home / "venv" / "bin"
    site = run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], home)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    installed = run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-index", "--no-deps", "--ignore-installed", str(wheel)],
        home,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    check = run([str(bin_dir / "python"), "-m", "pip", "check"], home)
    unmet = [
        line for line in check.stdout.splitlines() if line.lower().startswith(("mailbridge-desk", "mailbridge_desk"))
    ]
    assert unmet == [], check.stdout
    return bin_dir


def test_the_wheel_carries_the_templates_the_example_the_migrations_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "mailbridge/templates/receipt/en.txt.j2",
        "mailbridge/templates/receipt/it.html.j2",
        "mailbridge/reports/templates/stats.html.j2",
        "mailbridge/base/config/mailbridge.example.toml",
        "mailbridge/store/migrations/script.py.mako",
        f"{DIST}-{__version__}.dist-info/licenses/LICENSE",
    } <= names
    assert not any(name.startswith(("tests/", "templates/", "config/", "bench/")) for name in names)
    metadata = zipfile.ZipFile(wheel).read(f"{DIST}-{__version__}.dist-info/METADATA").decode()
    assert "Name: mailbridge-desk\n" in metadata and "License-Expression: MIT\n" in metadata


def test_installed_wheel_sets_up_renders_and_runs_once(venv, tmp_path, dovecot, sink, mailbox):
    """From a directory with no checkout: the version, init, the templates, and one cycle that sends a receipt."""
    home = tmp_path / "support"
    home.mkdir()
    env = {"MAILBRIDGE_IMAP_PASSWORD": dovecot.password, "MAILBRIDGE_SECRET": "a-secret-for-tokens"}

    def mailbridge(*args: str):
        return run([str(venv / "mailbridge"), *args], home, env)

    where = run([str(venv / "python"), "-c", "import mailbridge; print(mailbridge.__file__)"], home)
    assert Path(where.stdout.strip()).is_relative_to(venv.parent), where.stdout + where.stderr

    version = mailbridge("--version")
    assert (version.returncode, version.stdout) == (0, f"mailbridge {__version__}\n"), version.stderr
    helped = mailbridge("init", "--help")
    assert helped.returncode == 0 and "--support-address" in helped.stdout, helped.stderr
    initialised = mailbridge(*init_flags(dovecot, sink, mailbox))
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    assert "# Written by `mailbridge init`" in (home / "mailbridge.toml").read_text()  # from the shipped example

    listed = mailbridge("templates", "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == ["receipt", "it"] and "(shipped)" in line for line in listed.stdout.splitlines())
    preview = mailbridge("templates", "preview", "receipt", "--locale", "en")
    assert preview.returncode == 0, preview.stderr
    assert "opened ticket [#48213907751]" in preview.stdout

    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Where is my parcel?"))
    once = mailbridge("run", "--once")
    assert once.returncode == 0, once.stderr
    [sent] = sink.messages
    assert sent.rcpt_tos == ("anna@example.org",)
    receipt = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert "Where is my parcel?" in receipt["Subject"]
    text = receipt.get_body(preferencelist=("plain",)).get_content()
    assert "we have received your message and opened ticket [#" in text
