"""What mailbridge reads at run time is package data that the wheel carries (tests/integration/test_wheel_install.py
builds and installs the wheel; this fast check keeps pyproject's package-data patterns in step with the files)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import mailbridge
from mailbridge.base.config.starter import EXAMPLE
from mailbridge.decisions.outgoing.templates import SHIPPED

PACKAGE = Path(mailbridge.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def packaged(path: Path) -> bool:
    """Whether a pattern of [tool.setuptools.package-data] takes the file (or it is a module)."""
    if path.suffix == ".py":
        return True
    patterns = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    for package, globs in patterns.items():
        root = PACKAGE.parent.joinpath(*package.split("."))
        if not path.is_relative_to(root):
            continue
        relative = path.relative_to(root)
        if any(len(relative.parts) == len(Path(g).parts) and relative.match(g) for g in globs):
            return True
    return False


def test_templates_and_example_are_read_from_inside_the_package():
    assert SHIPPED == PACKAGE / "templates" and (SHIPPED / "receipt" / "en.txt.j2").is_file()
    assert Path(str(EXAMPLE)) == PACKAGE / "base" / "config" / "mailbridge.example.toml"
    assert EXAMPLE.read_text(encoding="utf-8").startswith("# mailbridge.example.toml")


def test_every_template_and_the_example_are_package_data():
    files = [*SHIPPED.rglob("*"), *(PACKAGE / "reports" / "templates").rglob("*"), Path(str(EXAMPLE))]
    missing = [str(p.relative_to(PACKAGE)) for p in files if p.is_file() and not packaged(p)]
    assert missing == [], "not matched by [tool.setuptools.package-data] in pyproject.toml"
