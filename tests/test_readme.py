"""README's Python examples run as written, so the quickstart can never rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, sqlite_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out  # each example prints something


def test_readme_filter_error_example_is_what_assay_prints(sqlite_uri: str) -> None:
    import assay

    shown = re.search(r"```text\n(unexpected 'adn'.*?)```", README.read_text(), flags=re.S)
    assert shown is not None
    with pytest.raises(assay.FilterSyntaxError) as err:
        assay.search_runs(filter="metrics.auc > 0.9 adn params.model = 'rf'")
    assert str(err.value) == shown.group(1).rstrip("\n")
