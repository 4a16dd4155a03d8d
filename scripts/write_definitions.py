"""Write the extension StructureDefinitions and project CodeSystems to mappings/definitions/<version>/.

Run: ``python scripts/write_definitions.py`` after changing ``mappings/extensions.yaml`` or the code systems of
``mappings/registry_facts.yaml``; tests/mapping/test_definitions.py checks the shipped files are current.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fhir_adapter.mapping.definitions import FHIR_VERSIONS, definition_resources

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "mappings" / "definitions"


def rendered(version: str) -> dict[str, str]:
    """File name -> JSON text of every definition of ``version``."""
    return {
        f"{r['resourceType']}-{r['id']}.json": json.dumps(r, indent=2, ensure_ascii=False) + "\n"
        for r in definition_resources(version)
    }


def main() -> None:
    for version in FHIR_VERSIONS:
        target = OUT / version
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, text in rendered(version).items():
            (target / name).write_text(text, encoding="utf-8")
        print(f"{version}: {len(list(target.iterdir()))} files in {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
