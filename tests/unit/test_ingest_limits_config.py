"""`[ingest]` keys of issue 16: parse limits, the raw file threshold and the data directory."""

from __future__ import annotations

from mailbridge.base.config.settings import load_settings
from mailbridge.runtime.app import parse_limits_of
from mailbridge.store.raw_files import data_dir_of
from tests.unit.test_config import BASE, error_for, write


def test_ingest_limits_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE))
    ingest = settings.ingest
    assert (ingest.max_parts, ingest.max_depth, ingest.max_decoded_bytes) == (500, 20, None)
    assert ingest.raw_file_threshold_bytes == 1024 * 1024 and ingest.data_dir is None
    limits = parse_limits_of(ingest, 1000)
    assert (limits.max_parts, limits.max_depth, limits.max_decoded_bytes) == (500, 20, 2000)


def test_ingest_limits_are_read_and_data_dir_is_relative_to_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    text = BASE + '[ingest]\nmax_parts = 50\nmax_depth = 5\nmax_decoded_bytes = 999\ndata_dir = "spool"\n'
    settings = load_settings(write(tmp_path, text))
    assert parse_limits_of(settings.ingest, 1000).max_decoded_bytes == 999
    assert data_dir_of(settings) == tmp_path / "spool"


def test_data_dir_defaults_to_the_sqlite_database_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE))
    assert settings.database.url.startswith("sqlite:///")
    assert data_dir_of(settings) == tmp_path


def test_bad_ingest_limit_names_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + "[ingest]\nmax_depth = 0\n", monkeypatch)
    assert message.endswith("[ingest] max_depth: expected an integer 1-60, got 0")
    message = error_for(tmp_path, BASE + '[ingest]\nraw_file_threshold_bytes = "1MB"\n', monkeypatch)
    assert message.endswith("[ingest] raw_file_threshold_bytes: expected an integer 1-1099511627776, got '1MB'")
