"""``assay serve``: a model version as an HTTP service (onnxruntime, or the native model with ``--native``).

``payload`` turns request JSON into model input (pure), ``source`` loads the version a URI names and
follows alias moves in the background, ``stats`` keeps Prometheus-style counters, and ``app`` is the
Starlette application with ``POST /predict``, ``GET /metadata``, ``/health`` and ``/metrics``.
"""
