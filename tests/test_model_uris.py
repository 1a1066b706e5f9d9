"""``models:/`` URIs and model names with or without their project (pure: no store)."""

from __future__ import annotations

import pytest

from assay.errors import InvalidInput
from assay.registry.uris import ModelRef, parse_model_uri, split_model_name


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/churn/3", ModelRef("churn", 3)),
        ("models:/churn@champion", ModelRef("churn", alias="champion")),
        ("models:/churn/latest", ModelRef("churn")),
        ("models:/vision/churn/3", ModelRef("churn", 3, project="vision")),
        ("models:/vision/churn@champion", ModelRef("churn", alias="champion", project="vision")),
        ("models:/vision/churn/LATEST", ModelRef("churn", project="vision")),
        ("models:/team@corp/churn@champion", ModelRef("churn", alias="champion", project="team@corp")),
        ("models:/vision/3/1", ModelRef("3", 1, project="vision")),
    ],
)
def test_uris_name_a_version_in_a_project_or_not(uri: str, ref: ModelRef) -> None:
    assert parse_model_uri(uri) == ref
    assert parse_model_uri(str(ref)) == ref  # str() writes the URI back


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/churn", "names no version: use models:/churn/<version>"),
        ("models:/vision/churn", "or models:/vision/churn/<number> for model 'churn' in project 'vision'"),
        ("models:/churn/abc", "'abc' is not a version number"),
        ("models:/churn/0", "'0' is not a version number"),
        ("models:/a/b/c/1", "name a model as NAME, or as PROJECT/NAME"),
        ("models:/vision/churn@latest", "'latest' is reserved"),
        ("models:/-x/churn/1", "name a model as NAME, or as PROJECT/NAME"),
    ],
)
def test_bad_uris_are_one_clear_error(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        parse_model_uri(uri)
    assert "\n" not in str(refused.value)


def test_a_model_name_splits_into_its_project_and_name() -> None:
    assert split_model_name("churn") == (None, "churn")
    assert split_model_name("vision/churn") == ("vision", "churn")
    for bad in ("vision/", "/churn", "a/b/c", "vision/ch@rn", 3):
        with pytest.raises(InvalidInput):
            split_model_name(bad)
