"""MLflow runs: where they go, UI links, run tables (``gdt-flow compare``, ``ui``)."""
