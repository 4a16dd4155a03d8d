from fhir_adapter.errors import InputError
from fhir_adapter.mappings import missing_sources


def test_error_one_line_names_source_and_field() -> None:
    err = InputError("not a number:\n 'x'", source="a.json", field="enrollmentInfo.count")
    assert err.one_line() == "a.json: enrollmentInfo.count: not a number: 'x'"
    assert err.exit_code == 2


def test_missing_sources_finds_code_without_source() -> None:
    table = {"a": {"code": "1", "source": "x"}, "b": [{"code": "2"}]}
    assert missing_sources(table) == ["b[0]"]


def test_every_code_in_every_mapping_table_has_a_source() -> None:
    from fhir_adapter.mappings import load_table, table_names

    assert len(table_names()) > 10
    missing = {name: found for name in table_names() if (found := missing_sources(load_table(name)))}
    assert missing == {}
