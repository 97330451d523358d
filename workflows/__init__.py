"""workflows: orchestration of gdt_core on Ray with MLflow logging, and the ``gdt-flow`` CLI."""
