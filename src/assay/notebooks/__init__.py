"""Notebooks as tracked runs: the template standard (``schema``), execution with papermill inside a run
(``execute``, ``assay.run_notebook``), warm kernels (``warm``) and the bundled templates (``templates``).

Importing this package loads nothing heavy: papermill, nbclient and nbconvert load with ``run``.
"""
