"""Targets: ``assay run`` costs at most 5% of wall time over bare papermill on the same trivial notebook;
``--warm`` runs a trivial notebook >= 3x faster than bare papermill, and a scikit-learn notebook >= 2x.

The competitor is papermill itself, in this venv, in the same run, on the same notebooks and kernel:

- in-process: ``papermill.execute_notebook(nb, out)`` against ``assay.run_notebook(nb)`` (a tracked run:
  params, tags, per-cell metrics, output notebook, HTML, cells table, run end), alternated, best of N, in
  one process whose imports and store are warm (what a script or a runner's worker looping over
  notebooks pays per notebook);
- one command each: ``papermill in.ipynb out.ipynb`` against ``assay run in.ipynb`` (a new process each:
  interpreter, imports, store and kernel start included), alternated, best of N;
- warm: ``assay.run_notebook(nb, pool=KernelPool())`` per notebook once the pool is up, against
  papermill's per-notebook time.

Timings on a shared 2-core machine are noisy: best-of-N, ratios taken within one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

REPEAT = 7

TRIVIAL = ["x = 1  # a parameter", "print(x + 1)"]
SKLEARN = [
    "n_estimators = 20  # trees",
    "from sklearn.datasets import load_iris\nfrom sklearn.ensemble import RandomForestClassifier",
    "X, y = load_iris(return_X_y=True)\n"
    "clf = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X, y)\n"
    "print(clf.score(X, y))",
]


def notebook(path: Path, cells: list[str], imports: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["assay"] = {"imports": imports}
    nbformat.write(nb, path)
    return path


def best(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(a: Callable[[], Any], b: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, float]:
    """Best-of-N of ``a`` and ``b`` run alternately, so both see the same machine load."""
    ta, tb = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b()
        tb.append(time.perf_counter() - t0)
    return min(ta), min(tb)


def report(label: str, assay_s: float, papermill_s: float, target: str) -> None:
    over = (assay_s - papermill_s) / papermill_s * 100
    print(
        f"  {label:<42} assay {assay_s:7.3f} s   papermill {papermill_s:7.3f} s   "
        f"speed-up {papermill_s / assay_s:5.2f}x   overhead {over:+6.1f}%   target {target}"
    )


def main() -> None:
    home = c.fresh_dir("notebooks")
    c.quiet_assay_env(home)
    os.environ["ASSAY_EXPERIMENT"] = "bench"
    import papermill

    import assay
    from assay.notebooks.warm import KernelPool

    trivial = notebook(home / "trivial.ipynb", TRIVIAL, [])
    sk = notebook(home / "sklearn.ipynb", SKLEARN, ["sklearn.datasets", "sklearn.ensemble"])
    out = home / "out.ipynb"

    def pm(nb: Path) -> Callable[[], Any]:
        return lambda: papermill.execute_notebook(
            str(nb), str(out), {"x": 2} if nb == trivial else {}, progress_bar=False
        )

    def ar(nb: Path, **kw: Any) -> Callable[[], Any]:
        return lambda: assay.run_notebook(nb, {"x": 2} if nb == trivial else {}, **kw)

    pm(trivial)()  # warm the imports and the store on both sides
    ar(trivial)()
    print("notebooks: one tracked notebook execution against bare papermill (same venv, same kernel)")
    a, p = interleaved(ar(trivial), pm(trivial))
    report("trivial notebook, in-process (cold kernels)", a, p, "overhead <= 5%")

    def command(*args: str) -> Callable[[], Any]:
        return lambda: subprocess.run(
            [str(Path(sys.executable).parent / args[0]), *args[1:]], check=True, capture_output=True
        )

    cli_a, cli_p = interleaved(
        command("assay", "run", str(trivial), "-p", "x", "2"),
        command("papermill", str(trivial), str(out), "-p", "x", "2", "--no-progress-bar"),
    )
    report("trivial notebook, one command each", cli_a, cli_p, "overhead <= 5%")

    with KernelPool() as pool:
        ar(trivial, pool=pool)()  # the template starts: what the first warm run pays
        ar(sk, pool=pool)()
        warm_trivial = best(ar(trivial, pool=pool))
        warm_sk = best(ar(sk, pool=pool))
    p_sk = best(pm(sk), 5)
    report("trivial notebook, --warm", warm_trivial, p, ">= 3x")
    report("scikit-learn notebook, --warm", warm_sk, p_sk, ">= 2x")


if __name__ == "__main__":
    main()
