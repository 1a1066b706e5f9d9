"""assay.autolog(): each framework's training becomes a run (params, per-iteration metrics with their steps,
a model that loads and predicts the same), nested fits log once, failures end the run FAILED and propagate,
logging failures never break training, and turning it off restores the frameworks exactly.

A framework missing here is skipped, except in CI, where it is a failure."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import assay
from assay.entities import Run, RunStatus

FRAMEWORK_MODULES = ("sklearn", "xgboost", "lightgbm", "torch", "lightning", "keras", "tensorflow")


def need(module: str) -> ModuleType:
    """``module``, imported; the test is skipped if it is missing (failed in CI, where all are installed)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed in CI")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(autouse=True)
def store(sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_CAPTURE_GIT", "0")
    monkeypatch.setenv("ASSAY_CAPTURE_ENVIRONMENT", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    yield sqlite_uri
    assay.autolog(disable=True)


def runs() -> list[Run]:
    """All runs (children too), oldest first."""
    return list(assay.search_runs(order_by="attributes.start_time"))


def only_run() -> Run:
    found = [r for r in runs() if r.info.parent_run_id is None]
    assert len(found) == 1, [r.tags.get("estimator_name") for r in found]
    return found[0]


def steps(run: Run, key: str) -> list[int]:
    return assay.get_metric_history(run.info.run_id, key).steps.tolist()  # type: ignore[no-any-return]


def model_of(run: Run, path: str = "model") -> Any:
    return assay.load_model(f"runs:/{run.info.run_id}/{path}")


def iris() -> tuple[Any, Any]:
    sklearn_datasets = need("sklearn.datasets")
    return sklearn_datasets.load_iris(return_X_y=True)  # type: ignore[no-any-return]


def binary(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.3, size=n) > 0).astype(np.int64)
    return X, y


# ---- the switch -------------------------------------------------------------------------------------------


def test_importing_assay_and_turning_autolog_on_imports_no_framework_until_the_program_does() -> None:
    code = (
        "import sys, assay, assay.autolog\n"
        "assay.autolog()\n"
        f"print(','.join(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules))\n"
        "from sklearn.linear_model import LogisticRegression\n"  # patched as it is imported
        "print(hasattr(LogisticRegression.fit, '__wrapped__'), assay.autolog.status()['sklearn'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, patched = out.stdout.splitlines()
    assert loaded == ""
    assert patched == "True on"


def test_assay_autolog_is_one_callable_module_whichever_import_came_first() -> None:
    code = (
        "import sys\n"
        "import assay.autolog.sklearn\n"  # binds assay.autolog to the module before the lazy export runs
        "import assay\n"
        "from assay.autolog import autolog\n"
        "assay.autolog(frameworks=[])\n"
        "print(assay.autolog is autolog is sys.modules['assay.autolog'], callable(assay.autolog.holdout))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True True"


def test_unknown_frameworks_and_options_are_refused() -> None:
    with pytest.raises(assay.InvalidInput, match=r"autolog knows sklearn, .*not tensorflow2"):
        assay.autolog(frameworks=["tensorflow2"])
    with pytest.raises(assay.InvalidInput, match="max_tuning_runs"):
        assay.autolog(max_tuning_runs=-1)
    with pytest.raises(assay.InvalidInput, match=r"frameworks=\[...\]"):
        assay.autolog("sklearn")  # type: ignore[arg-type]
    assert list(inspect.signature(assay.autolog).parameters)[:3] == ["disable", "log_models", "frameworks"]


def test_status_says_which_hooks_are_on() -> None:
    need("sklearn.base")
    assert assay.autolog.status()["sklearn"] == "off"
    assay.autolog(frameworks=["sklearn"])
    assert assay.autolog.status()["sklearn"] == "on"
    assert assay.autolog.status()["xgboost"] in ("off", "not installed")
    assay.autolog(disable=True)
    assert assay.autolog.status()["sklearn"] == "off"


# ---- scikit-learn -----------------------------------------------------------------------------------------


def test_a_sklearn_fit_logs_params_training_metrics_tags_and_a_model_that_predicts_the_same() -> None:
    linear_model = need("sklearn.linear_model")
    X, y = iris()
    assay.autolog(frameworks=["sklearn"])
    model = linear_model.LogisticRegression(C=0.5, max_iter=1000).fit(X, y)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.params["C"] == "0.5"
    assert run.params["max_iter"] == "1000"
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.tags["assay.autolog.framework"] == "sklearn"
    metrics = {k: s.last for k, s in run.metric_summaries.items()}
    assert metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert {"training_f1", "training_precision", "training_recall", "training_log_loss"} <= set(metrics)
    assert 0.9 < metrics["training_roc_auc"] <= 1.0
    assert run.tags["assay.autolog.model"] == f"runs:/{run.info.run_id}/model"
    assert assay.autolog.last_run_id() == run.info.run_id
    np.testing.assert_array_equal(model_of(run).predict(X), model.predict(X))
    predictor = assay.load_predictor(f"runs:/{run.info.run_id}/model")  # the input example gave a signature
    np.testing.assert_array_equal(predictor.predict(X[:3]), model.predict(X[:3]))
    used = assay.Client().registry.run_datasets(run.info.run_id)
    assert [(u.context, u.dataset.rows) for u in used] == [("training", 150)]


def test_a_regressor_gets_regression_metrics() -> None:
    linear_model = need("sklearn.linear_model")
    X, y = need("sklearn.datasets").load_diabetes(return_X_y=True)
    assay.autolog(frameworks=["sklearn"], log_models=False)
    linear_model.Ridge(alpha=0.1).fit(X, y)
    run = only_run()
    assert {"training_r2", "training_mse", "training_rmse", "training_mae", "training_score"} <= set(
        run.metric_summaries
    )
    mse, rmse = run.metric_summaries["training_mse"].last, run.metric_summaries["training_rmse"].last
    assert rmse == pytest.approx(mse**0.5)
    assert assay.list_artifacts(run.info.run_id, "model") == []  # log_models=False


def test_a_pipeline_logs_once_with_its_steps_params() -> None:
    pipeline = need("sklearn.pipeline")
    preprocessing = need("sklearn.preprocessing")
    linear_model = need("sklearn.linear_model")
    X, y = iris()
    assay.autolog(frameworks=["sklearn"])
    pipe = pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression(C=2.0))
    pipe.fit(X, y)
    run = only_run()  # the scaler's and the classifier's own fits are inside the pipeline's
    assert run.tags["estimator_name"] == "Pipeline"
    assert run.params["logisticregression__C"] == "2.0"
    assert run.params["standardscaler__with_mean"] == "True"
    np.testing.assert_array_equal(model_of(run).predict(X), pipe.predict(X))
    assert not hasattr(pipe, "fit_transform")  # still hidden (available_if): its last step transforms nothing


def test_a_transforming_pipelines_fit_transform_logs_once_as_the_pipeline() -> None:
    pipeline = need("sklearn.pipeline")
    preprocessing = need("sklearn.preprocessing")
    decomposition = need("sklearn.decomposition")
    X, _ = iris()
    assay.autolog(frameworks=["sklearn"], log_models=False)
    out = pipeline.make_pipeline(preprocessing.StandardScaler(), decomposition.PCA(2)).fit_transform(X)
    assert out.shape == (150, 2)
    assert only_run().tags["estimator_name"] == "Pipeline"  # not a run for PCA.fit_transform inside it


def test_a_search_logs_best_params_cv_results_and_the_best_candidates_as_child_runs() -> None:
    model_selection = need("sklearn.model_selection")
    linear_model = need("sklearn.linear_model")
    X, y = iris()
    assay.autolog(frameworks=["sklearn"], max_tuning_runs=2)
    search = model_selection.GridSearchCV(
        linear_model.LogisticRegression(max_iter=1000), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3
    )
    search.fit(X, y)
    all_runs = runs()
    parent = only_run()
    children = [r for r in all_runs if r.info.parent_run_id == parent.info.run_id]
    assert len(all_runs) == 3 and len(children) == 2  # one run for the search, none per inner fit
    assert parent.params["best_C"] == str(search.best_params_["C"])
    assert parent.params["estimator__max_iter"] == "1000"
    assert parent.metric_summaries["best_cv_score"].last == pytest.approx(search.best_score_)
    assert {c.params["C"] for c in children} <= {"0.01", "0.1", "1.0", "10.0"}
    best = max(children, key=lambda c: c.metric_summaries["mean_test_score"].last)
    assert best.metric_summaries["mean_test_score"].last == pytest.approx(search.best_score_)
    assert best.metric_summaries["rank_test_score"].last == 1
    files = {f.path for f in assay.list_artifacts(parent.info.run_id)}
    assert "cv_results.json" in files
    np.testing.assert_array_equal(model_of(parent).predict(X), search.predict(X))


def test_holdout_evaluates_each_logged_model_on_the_held_out_data() -> None:
    tree = need("sklearn.tree")
    X, y = iris()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, val = order[:100], order[100:]
    assay.autolog(frameworks=["sklearn"], log_models=False)
    with assay.autolog.holdout(X[val], y[val], name="val"):
        model = tree.DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[train], y[train])
    run = only_run()
    assert run.metric_summaries["val/accuracy"].last == pytest.approx(model.score(X[val], y[val]))
    assert "evaluation/val.json" in {f.path for f in assay.list_artifacts(run.info.run_id, "evaluation")}
    tree.DecisionTreeClassifier(max_depth=2).fit(X[train], y[train])  # outside the block: no evaluation
    assert "val/accuracy" not in runs()[-1].metric_summaries
    with pytest.raises(assay.InvalidInput, match="plain name"):
        assay.autolog.holdout(X, y, name="a/b").__enter__()


def test_fits_inside_the_users_run_log_into_it_and_leave_it_active() -> None:
    linear_model = need("sklearn.linear_model")
    X, y = iris()
    assay.autolog(frameworks=["sklearn"])
    with assay.start_run() as run:
        linear_model.LogisticRegression(max_iter=1000).fit(X, y)
        linear_model.LogisticRegression(C=0.1, max_iter=1000).fit(X, y)  # C clashes: the first value stays
        active = assay.active_run()
        assert active is not None and active.id == run.id
    logged = only_run()
    assert logged.info.run_id == run.id
    assert logged.info.status is RunStatus.FINISHED  # ended by the user's with block
    assert logged.params["C"] == "1.0"
    assert steps(logged, "training_accuracy") == [0, 1]
    assert model_of(logged, "model").C == 1.0
    assert model_of(logged, "model-2").C == 0.1


def test_a_fit_that_raises_ends_its_run_failed_and_the_exception_propagates_unchanged() -> None:
    linear_model = need("sklearn.linear_model")
    boom = RuntimeError("the data source went away")

    class Exploding:
        def __array__(self, *args: Any, **kwargs: Any) -> Any:
            raise boom

    assay.autolog(frameworks=["sklearn"])
    with pytest.raises(RuntimeError) as raised:
        linear_model.LogisticRegression().fit(Exploding(), [0, 1])
    assert raised.value is boom
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.tags["assay.error"] == "RuntimeError: the data source went away"
    assert assay.active_run() is None


def test_logging_failures_never_break_training(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    linear_model = need("sklearn.linear_model")
    from assay.autolog import _session

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(_session, "log_model", broken)
    X, y = iris()
    assay.autolog(frameworks=["sklearn"])
    with caplog.at_level(logging.WARNING, logger="assay.autolog"):
        model = linear_model.LogisticRegression(max_iter=1000).fit(X, y)
    assert model.score(X, y) > 0.9
    assert "could not log the model" in caplog.text and "OSError: disk full" in caplog.text
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert "training_accuracy" in run.metric_summaries  # what could be logged was


def test_disable_restores_the_originals_and_enabling_twice_patches_once() -> None:
    linear_model = need("sklearn.linear_model")
    pipeline = need("sklearn.pipeline")
    LR, Pipe = linear_model.LogisticRegression, pipeline.Pipeline
    before = {(cls, name): vars(cls).get(name) for cls in (LR, Pipe) for name in ("fit", "fit_transform")}
    X, y = iris()
    assay.autolog(frameworks=["sklearn"])
    assay.autolog(frameworks=["sklearn"], log_models=False)  # only the options change
    assert LR.fit.__wrapped__ is before[(LR, "fit")]
    LR(max_iter=1000).fit(X, y)
    assert len(runs()) == 1
    assert assay.list_artifacts(runs()[0].info.run_id, "model") == []  # the second call's options apply
    assay.autolog(disable=True)
    after = {(cls, name): vars(cls).get(name) for cls in (LR, Pipe) for name in ("fit", "fit_transform")}
    assert after == before
    LR(max_iter=1000).fit(X, y)
    assert len(runs()) == 1


# ---- XGBoost ----------------------------------------------------------------------------------------------


def test_xgboost_train_logs_iterations_best_iteration_importance_and_the_booster() -> None:
    xgb = need("xgboost")
    X, y = binary()
    assay.autolog(frameworks=["xgboost"])
    dtrain, dval = xgb.DMatrix(X[:150], label=y[:150]), xgb.DMatrix(X[150:], label=y[150:])
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 2, "eta": 0.3}
    booster = xgb.train(
        params,
        dtrain,
        30,
        evals=[(dtrain, "train"), (dval, "val")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )
    run = only_run()
    assert run.params["max_depth"] == "2" and run.params["num_boost_round"] == "30"
    assert run.params["early_stopping_rounds"] == "3"
    rounds = booster.num_boosted_rounds()
    assert steps(run, "eval/train/logloss") == list(range(rounds))
    assert steps(run, "eval/val/logloss") == list(range(rounds))
    assert run.metric_summaries["best_iteration"].last == booster.best_iteration
    assert run.metric_summaries["stopped_iteration"].last == rounds - 1
    importance = assay.Client().read_artifact(run.info.run_id, "feature_importance.json")
    assert b'"gain"' in importance and b'"f0"' in importance
    np.testing.assert_allclose(model_of(run).inplace_predict(X), booster.inplace_predict(X), rtol=1e-6)


def test_xgboost_wrapper_logs_its_eval_set_per_iteration_once() -> None:
    xgb = need("xgboost")
    X, y = binary()
    assay.autolog(frameworks=["xgboost", "sklearn"])
    model = xgb.XGBClassifier(n_estimators=12, max_depth=2).fit(
        X[:150], y[:150], eval_set=[(X[150:], y[150:])]
    )
    run = only_run()  # the wrapper's fit; its inner xgboost.train is not a run of its own
    assert run.tags["estimator_name"] == "XGBClassifier"
    assert run.params["n_estimators"] == "12"
    assert "callbacks" not in run.params  # unset params are left out
    assert steps(run, "eval/validation_0/logloss") == list(range(12))
    assert "training_accuracy" in run.metric_summaries
    np.testing.assert_array_equal(model_of(run).predict(X), model.predict(X))


def test_disabling_xgboost_restores_train_where_the_wrappers_call_it() -> None:
    xgb = need("xgboost")
    owners = [xgb, need("xgboost.training"), need("xgboost.sklearn")]

    def patchable() -> list[Any]:
        return [vars(m)["train"] for m in owners] + [vars(xgb.XGBClassifier)["fit"]]

    before = patchable()
    assay.autolog(frameworks=["xgboost"])
    assert all(now is not was for now, was in zip(patchable(), before, strict=True))
    assert "fit" not in vars(xgb.XGBRegressor)  # inherits XGBModel's (wrapped) fit
    assay.autolog(disable=True)
    assert patchable() == before
    assert "fit" not in vars(xgb.XGBRegressor)


# ---- LightGBM ---------------------------------------------------------------------------------------------


def test_lightgbm_train_logs_iterations_best_iteration_and_the_booster() -> None:
    lgb = need("lightgbm")
    X, y = binary()
    assay.autolog(frameworks=["lightgbm"])
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 4, "verbose": -1},
        lgb.Dataset(X[:150], y[:150]),
        40,
        valid_sets=[lgb.Dataset(X[150:], y[150:])],
        valid_names=["val"],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    run = only_run()
    assert run.params["num_leaves"] == "4" and run.params["num_boost_round"] == "40"
    ran = steps(run, "eval/val/binary_logloss")
    assert ran == list(range(len(ran))) and 3 < len(ran) <= 40
    assert run.metric_summaries["stopped_iteration"].last == ran[-1]
    assert run.metric_summaries["best_iteration"].last == booster.best_iteration  # LightGBM's, from 1
    assert run.metric_summaries["best/val/binary_logloss"].last == pytest.approx(
        booster.best_score["val"]["binary_logloss"]
    )
    np.testing.assert_allclose(model_of(run).predict(X), booster.predict(X), rtol=1e-6)


def test_lightgbm_wrapper_logs_its_eval_data_per_iteration_once() -> None:
    lgb = need("lightgbm")
    X, y = binary()
    assay.autolog(frameworks=["lightgbm", "sklearn"])
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=4, verbose=-1)
    model.fit(X[:150], y[:150], eval_X=(X[150:],), eval_y=(y[150:],))
    run = only_run()
    assert run.tags["estimator_name"] == "LGBMClassifier"
    assert run.params["n_estimators"] == "8"
    assert steps(run, "eval/valid_0/binary_logloss") == list(range(8))
    assert "training_log_loss" in run.metric_summaries
    np.testing.assert_array_equal(model_of(run).predict(X), model.predict(X))


# ---- PyTorch ----------------------------------------------------------------------------------------------


def test_track_logs_a_plain_torch_loop_and_the_model() -> None:
    torch = need("torch")
    from assay.autolog.torch import track

    torch.manual_seed(0)
    X, y = binary(64)
    xs, ys = torch.from_numpy(X), torch.from_numpy(y).float().unsqueeze(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with track(model, optimizer, input_example=X[:4], params={"batch_size": 16}) as t:
        for _ in range(3):
            for i in range(0, 64, 16):
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    model(xs[i : i + 16]), ys[i : i + 16]
                )
                loss.backward()
                optimizer.step()
                t.step(loss=loss)
            t.epoch(train_loss=loss)
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.params["total_params"] == "49" and run.params["trainable_params"] == "49"
    assert run.params["optimizer/name"] == "SGD" and run.params["optimizer/lr"] == "0.1"
    assert run.params["optimizer/momentum"] == "0.9" and run.params["batch_size"] == "16"
    assert steps(run, "loss") == list(range(12)) and steps(run, "lr") == list(range(12))
    assert steps(run, "train_loss") == [0, 1, 2]
    with torch.no_grad():
        expected = model(xs).numpy()
    np.testing.assert_allclose(
        assay.load_predictor(f"runs:/{t.run_id}/model").predict(X), expected, rtol=1e-5
    )


def test_track_ends_its_run_failed_when_the_loop_raises() -> None:
    torch = need("torch")
    from assay.autolog.torch import track

    model = torch.nn.Linear(2, 1)
    with pytest.raises(ZeroDivisionError), track(model) as t:
        t.step(loss=1.0)
        _ = 1 / 0
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert assay.list_artifacts(run.info.run_id, "model") == []


def _lightning_module(pl: Any, torch: Any) -> Any:
    class Net(pl.LightningModule):  # type: ignore[misc]
        def __init__(self, hidden: int = 8, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )
            self.example_input_array = torch.zeros(2, 4)

        def forward(self, x: Any) -> Any:
            return self.net(x)

        def training_step(self, batch: Any, _i: int) -> Any:
            xb, yb = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self(xb), yb)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _i: int) -> None:
            xb, yb = batch
            self.log("val_loss", torch.nn.functional.binary_cross_entropy_with_logits(self(xb), yb))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Net()


def _loaders(torch: Any) -> tuple[Any, Any]:
    X, y = binary(64)
    data = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y).float().unsqueeze(1))
    return torch.utils.data.DataLoader(data, batch_size=16), torch.utils.data.DataLoader(data, batch_size=64)


#: Lightning's advice for real trainings, and a deprecation inside Lightning itself under torch 2.13.
LIGHTNING_NOISE = [
    "ignore:.*does not have many workers:UserWarning",
    "ignore:.*LeafSpec.*is deprecated:FutureWarning",
]


@pytest.mark.slow  # importing Lightning takes seconds
@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_lightning_fit_is_logged_through_an_assay_logger() -> None:
    torch = need("torch")
    pl = need("lightning.pytorch")
    original = vars(pl.Trainer)["fit"]
    assay.autolog(frameworks=["torch"])
    torch.manual_seed(0)
    net = _lightning_module(pl, torch)
    trainer = pl.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(net, *_loaders(torch))
    assert trainer.loggers == []  # the logger autolog added was for this fit only
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.params["hidden"] == "8" and run.params["lr"] == "0.05"  # save_hyperparameters()
    assert run.params["epochs"] == "3" and run.params["optimizer/name"] == "SGD"
    assert steps(run, "train_loss_step") == list(range(12))  # 4 batches x 3 epochs, at Lightning's step
    assert steps(run, "val_loss") == [3, 7, 11]
    X, _ = binary(8)
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(
        assay.load_predictor(f"runs:/{run.info.run_id}/model").predict(X), expected, rtol=1e-5
    )
    assay.autolog(disable=True)
    assert vars(pl.Trainer)["fit"] is original


@pytest.mark.slow
@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_an_assay_logger_on_its_own_logs_into_the_active_run_and_leaves_it_open() -> None:
    torch = need("torch")
    pl = need("lightning.pytorch")
    from assay.autolog.torch import AssayLogger

    with assay.start_run() as run:
        logger = AssayLogger()
        trainer = pl.Trainer(
            max_epochs=1,
            logger=logger,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=1,
        )
        trainer.fit(_lightning_module(pl, torch), *_loaders(torch))
        assert logger.run_id == run.id
        active = assay.active_run()
        assert active is not None and active.id == run.id
    logged = only_run()
    assert logged.params["hidden"] == "8"
    assert steps(logged, "train_loss_step") == [0, 1, 2, 3]


@pytest.mark.slow
@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_an_assay_logger_without_a_run_starts_one_and_finalize_ends_it() -> None:
    need("lightning.pytorch")
    from assay.autolog.torch import AssayLogger

    logger = AssayLogger()
    logger.log_hyperparams({"optimizer": {"name": "adam", "lr": 0.001}, "layers": [4, 8, 1]})
    logger.log_metrics({"loss": 0.5}, step=10)
    logger.finalize("failed")
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.params == {"optimizer/name": "adam", "optimizer/lr": "0.001", "layers": "[4, 8, 1]"}
    assert steps(run, "loss") == [10]
    assert assay.active_run() is None


# ---- Keras ------------------------------------------------------------------------------------------------


def _keras_model(keras: Any) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.mark.slow  # importing TensorFlow takes seconds
def test_keras_fit_is_logged_with_params_epoch_metrics_and_the_model() -> None:
    keras = need("keras")
    assay.autolog(frameworks=["keras"])
    X, y = binary()
    model = _keras_model(keras)
    stop = keras.callbacks.EarlyStopping(patience=5)
    model.fit(X, y, epochs=3, batch_size=50, validation_split=0.25, verbose=0, callbacks=[stop])
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.params["epochs"] == "3" and run.params["batch_size"] == "50"
    assert run.params["optimizer/name"] == "adam" and run.params["optimizer/learning_rate"] == "0.01"
    assert run.params["early_stopping/patience"] == "5"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert steps(run, key) == [0, 1, 2], key
    np.testing.assert_allclose(model_of(run).predict_on_batch(X), model.predict_on_batch(X), rtol=1e-6)
    assay.autolog(disable=True)
    assert "fit" not in vars(keras.Model)  # inherited from the backend's trainer, as before


@pytest.mark.slow
def test_a_keras_fit_that_raises_ends_its_run_failed() -> None:
    keras = need("keras")
    assay.autolog(frameworks=["keras"])

    class Stop(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise KeyError("stop here")

    X, y = binary(40)
    with pytest.raises(KeyError, match="stop here"):
        _keras_model(keras).fit(X, y, epochs=2, verbose=0, callbacks=[Stop()])
    run = only_run()
    assert run.info.status is RunStatus.FAILED
    assert assay.active_run() is None


@pytest.mark.slow
def test_an_assay_callback_on_its_own_starts_and_ends_a_run() -> None:
    keras = need("keras")
    from assay.autolog.keras import AssayCallback

    X, y = binary(40)
    model = _keras_model(keras)
    model.fit(X, y, epochs=2, verbose=0, callbacks=[AssayCallback(log_models=False, log_every_n_steps=1)])
    run = only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.params["epochs"] == "2" and run.params["steps"] == "2"
    assert steps(run, "loss") == [0, 1]
    assert steps(run, "batch/loss") == [1, 2, 3, 4]
    assert assay.active_run() is None
