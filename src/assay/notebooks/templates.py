"""The bundled notebook templates (package data under ``templates/``), each following the template
standard: a cell tagged ``imports`` (what warm kernels import ahead), a cell tagged ``parameters`` with a
typed data-source parameter (default: data that ships with scikit-learn, or generated: nothing is
downloaded), metrics and the model logged through assay (``assay.log_model``) and ``assay.evaluate`` at
the end."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from assay.errors import Conflict, InvalidInput

TEMPLATES = ("blank", "classification", "regression", "pytorch")


def template_text(template: str) -> str:
    """The notebook JSON of ``template``."""
    if template not in TEMPLATES:
        raise InvalidInput(f"unknown template {template!r}: choose one of {', '.join(TEMPLATES)}")
    return (
        resources.files("assay.notebooks").joinpath(f"templates/{template}.ipynb").read_text(encoding="utf-8")
    )


def write_template(name: str, template: str = "blank", force: bool = False) -> Path:
    """Write ``template`` as the notebook ``name`` (``.ipynb`` added if missing); Conflict if it exists."""
    path = Path(name if name.endswith(".ipynb") else f"{name}.ipynb")
    text = template_text(template)
    if path.exists() and not force:
        raise Conflict(f"{path} exists: pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
