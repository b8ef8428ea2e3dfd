"""The Jinja2 environment (StrictUndefined) and render(env, kind, locale, context) -> RenderedMail.

Site overrides in `templates_dir` are searched before the shipped templates, which are package data
(`mailbridge/templates/`, found with importlib.resources, so a wheel install has them too). HTML parts are
autoescaped; text parts are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape


def _shipped_dir() -> Path:
    """The shipped templates' directory; the package is installed as files (a wheel or a checkout), never zipped."""
    root = files("mailbridge") / "templates"
    if not isinstance(root, Path):
        raise RuntimeError(f"mailbridge must be installed as files on disk to read its templates, not as {root!r}")
    return root


SHIPPED = _shipped_dir()


@dataclass(frozen=True)
class RenderedMail:
    text: str
    html: str


def make_environment(override_dir: Path | None = None) -> Environment:
    """Build the environment; an override directory wins over the shipped templates."""
    return _environment((override_dir,) if override_dir else ())


@lru_cache(maxsize=64)
def brand_environment(brand_dir: Path, site_dir: Path | None) -> Environment:
    """The environment of a Contact's own template directory: it wins over the site's, which wins over the shipped."""
    return _environment((brand_dir, site_dir) if site_dir else (brand_dir,))


def _environment(override_dirs: tuple[Path, ...]) -> Environment:
    loaders = [FileSystemLoader(str(d)) for d in override_dirs]
    loaders.append(FileSystemLoader(str(SHIPPED)))
    return Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
    )


def _pick(env: Environment, kind: str, locale: str, part: str):
    for candidate in (locale, "en"):
        try:
            return env.get_template(f"{kind}/{candidate}.{part}.j2")
        except TemplateNotFound:
            continue
    raise TemplateNotFound(f"{kind}/{locale}.{part}.j2")


def render(env: Environment, kind: str, locale: str, context: dict) -> RenderedMail:
    """Render the text and HTML parts of one kind of mail in one locale (English as fallback)."""
    return RenderedMail(
        text=_pick(env, kind, locale, "txt").render(context),
        html=_pick(env, kind, locale, "html").render(context),
    )
