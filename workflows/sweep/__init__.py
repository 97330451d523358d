"""Hyper-parameter sweeps on Ray Tune (``gdt-flow sweep``): spaces, trials as nested MLflow
runs, plots."""
