"""The API reference builds from the public docstrings (scripts/build_api_docs.py, pdoc), and every public name
has a docstring to build it from."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import fhir_adapter

ROOT = Path(__file__).resolve().parents[1]
NOT_DOCUMENTED_BY_A_DOCSTRING = {"__version__"}  # a string: pdoc shows its value


@pytest.mark.parametrize("name", sorted(set(fhir_adapter.__all__) - NOT_DOCUMENTED_BY_A_DOCSTRING))
def test_every_public_name_has_its_own_docstring(name: str) -> None:
    obj = getattr(fhir_adapter, name)
    own = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__  # not one inherited from a base
    assert isinstance(own, str) and own.strip(), f"fhir_adapter.{name} has no docstring"


def test_the_api_reference_builds_and_names_every_public_name(tmp_path: Path) -> None:
    out = tmp_path / "api"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_api_docs.py"), "-o", str(out)],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (out / "fhir_adapter.html").read_text(encoding="utf-8")
    for name in fhir_adapter.__all__:
        assert f'id="{name}"' in page, name
    assert "Compile a trial" in page  # the docstrings themselves, not only the names
    errors = (out / "fhir_adapter" / "errors.html").read_text(encoding="utf-8")
    assert 'id="FhirServerError"' in errors and 'id="UsageError"' in errors
    assert (out / "index.html").is_file()
