"""The VOT toolkit over TraX (``gdt-flow trax``, ``vot-workspace``)."""
