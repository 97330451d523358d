"""Phase 1 on Ray (``gdt-flow build-patches``, ``pretrain``) and weights (``gdt-flow
weights``, ``--weights`` specs)."""
