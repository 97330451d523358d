"""Evaluations on Ray actors (``gdt-flow evaluate``, ``log-run``, ``ablation``, ``report``,
``track``): one actor per running target, resumable run folders, MLflow records."""
