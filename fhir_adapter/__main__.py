"""``python -m fhir_adapter``: the command line, as ``fhir-adapter``."""

from fhir_adapter.cli import main

if __name__ == "__main__":
    main()
