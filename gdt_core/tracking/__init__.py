"""The GDT tracker (section 3.3) and the trackers beside it: the reference loop in the paper's
order (``reference``), the fast equal one (``tracker``), the naive-Bayes layer (eqs. 1-7),
sampling, the fc back-propagation (eqs. 8-11), OpenCV baselines and the tracker interface."""
