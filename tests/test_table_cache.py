"""The parsed mapping tables kept between runs: the same data as parsing the YAML, and never in the way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from fhir_adapter import table_cache
from fhir_adapter.mappings import _PARSER_TAG, _parse_yaml, mappings_dir, table_names


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FHIR_ADAPTER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def parse_counting(calls: list[bytes]) -> Callable[[bytes], object]:
    def parse(raw: bytes) -> object:
        calls.append(raw)
        return yaml.safe_load(raw)

    return parse


def test_every_shipped_table_reads_back_as_parsed(cache: Path) -> None:
    for name in table_names():
        raw = (mappings_dir() / f"{name}.yaml").read_bytes()
        expected = yaml.load(raw.decode("utf-8"), Loader=yaml.SafeLoader)
        assert table_cache.parsed(name, raw, _PARSER_TAG, _parse_yaml) == expected  # parsed, then written
        assert table_cache.parsed(name, raw, _PARSER_TAG, _never) == expected  # read back
    assert len(list(cache.glob("*.json"))) == len(table_names())


def _never(raw: bytes) -> object:
    raise AssertionError("parsed again")


def test_an_edited_table_is_parsed_again(cache: Path) -> None:
    calls: list[bytes] = []
    assert table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls)) == {"a": 1}
    assert table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls)) == {"a": 1}
    assert table_cache.parsed("t", b"a: 2\n", "p", parse_counting(calls)) == {"a": 2}
    assert table_cache.parsed("t", b"a: 2\n", "other parser", parse_counting(calls)) == {"a": 2}
    assert len(calls) == 3


def test_what_json_would_not_give_back_is_not_cached(cache: Path) -> None:
    for raw in (b"day: 2024-01-02\n", b"1: integer key\n", b"x: .nan\n"):
        calls: list[bytes] = []
        first = table_cache.parsed("t", raw, "p", parse_counting(calls))
        second = table_cache.parsed("t", raw, "p", parse_counting(calls))
        assert len(calls) == 2 and repr(first) == repr(second)
    assert not list(cache.glob("*.json"))


def test_a_damaged_entry_or_an_unwritable_directory_only_costs_a_parse(cache: Path) -> None:
    table_cache.parsed("t", b"a: 1\n", "p", parse_counting([]))
    (entry,) = cache.glob("t-*.json")
    entry.write_text('{"a": ', encoding="utf-8")
    calls: list[bytes] = []
    assert table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls)) == {"a": 1} and len(calls) == 1
    assert table_cache.parsed("t", b"a: 1\n", "p", _never) == {"a": 1}  # written again
    entry.unlink()
    cache.rmdir()
    cache.write_text("a file where the directory should be", encoding="utf-8")
    assert table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls)) == {"a": 1} and len(calls) == 2


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_ADAPTER_CACHE_DIR", "off")
    assert table_cache.cache_dir() is None
    calls: list[bytes] = []
    table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls))
    table_cache.parsed("t", b"a: 1\n", "p", parse_counting(calls))
    assert len(calls) == 2
