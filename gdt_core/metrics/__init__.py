"""Scores as each benchmark's own toolkit computes them (OTB's OPE, LaSOT, GOT-10k), result
files in their layouts, plots and ranked reports."""
