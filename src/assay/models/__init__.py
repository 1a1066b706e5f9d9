"""Models: save, load and predict with scikit-learn, XGBoost, LightGBM, PyTorch and Keras models, in each
framework's safe format (pickle only when asked for, and loaded only when trusted).

Importing this package loads no framework: each flavor imports its own when it saves, loads or predicts,
and a missing one raises ``MissingDependency`` naming the extra (``pip install 'assay[torch]'``).

    from assay.models import save_model, load_predictor
    save_model(pipeline, "out/churn", input_example=X_train[:5])
    predictor = load_predictor("out/churn")
    predictor.predict(X_new)          # checked against the signature inferred from the example

``assay.log_model`` / ``assay.load_model`` do the same through a run's artifacts (``runs:/<id>/<name>``).
"""

from assay.models.descriptor import DESCRIPTOR_FILE, ModelDescriptor, read_descriptor
from assay.models.flavors import Flavor, Saved, detect_flavor, get_flavor, register_flavor, registered_flavors
from assay.models.io import load_model, load_predictor, read_model_descriptor, save_model
from assay.models.predictor import Predictor
from assay.models.signature import ColSpec, Schema, Signature, TensorSpec, check_input, infer_signature

__all__ = [
    "DESCRIPTOR_FILE",
    "ColSpec",
    "Flavor",
    "ModelDescriptor",
    "Predictor",
    "Saved",
    "Schema",
    "Signature",
    "TensorSpec",
    "check_input",
    "detect_flavor",
    "get_flavor",
    "infer_signature",
    "load_model",
    "load_predictor",
    "read_descriptor",
    "read_model_descriptor",
    "register_flavor",
    "registered_flavors",
    "save_model",
]
