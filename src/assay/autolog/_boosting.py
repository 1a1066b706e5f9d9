"""What XGBoost's and LightGBM's hooks share: the wrapper of their ``train()`` function.

Both libraries train through one ``train(params, data, num_boost_round, ..., callbacks=...)``, and their
scikit-learn wrappers call it from ``fit``. The wrapper adds the framework's per-iteration callback and logs
params before and the booster after; when the ``train()`` is a wrapper's inner call (the fit's session set
the ``live`` mark), its iterations go to the fit's run rather than a run of their own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from assay.autolog import _session
from assay.autolog._session import Session


def wrap_train(
    original: Callable[..., Any],
    framework: str,
    live: str,
    callback: Callable[[Session], Any],
    before: Callable[[Session, inspect.BoundArguments], None],
    after: Callable[[Session, Any, inspect.BoundArguments], None],
    booster_class: str,
) -> Callable[..., Any]:
    """``original`` (the library's ``train``) logging through ``callback(session)``, ``before`` and
    ``after``; ``live`` is the session-data key a wrapper's fit sets so its inner train logs iterations."""
    signature = inspect.signature(original)

    def add_callback(bound: inspect.BoundArguments, session: Session) -> None:
        callbacks = list(bound.arguments.get("callbacks") or [])
        bound.arguments["callbacks"] = [*callbacks, callback(session)]

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return original(*args, **kwargs)  # let the library say what is wrong with the call

        def call(session: Session | None) -> Any:
            outer = _session.current()
            if session is None and outer is not None and outer.data.pop(live, False):
                session = outer  # the train() of a wrapper's fit: its iterations go to the fit's run
            if session is not None:
                session.safely("the iteration callback", add_callback, bound, session)
            return original(*bound.args, **bound.kwargs)

        return _session.train(
            framework,
            call,
            before=lambda s: before(s, bound),
            after=lambda s, booster: after(s, booster, bound),
            tags={"estimator_name": "Booster", "estimator_class": booster_class},
        )

    return train
