"""Data set readers in their own on-disk layouts: OTB, LaSOT, GOT-10k (tracking), ImageNet DET
and COCO (phase 1), box and label files, and generated data in the same formats."""
