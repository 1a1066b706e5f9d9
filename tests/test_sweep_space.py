"""Search spaces (pure): parsing, sampling, grids, the stored form and Optuna's distributions."""

from __future__ import annotations

import pytest

import assay
from assay.errors import InvalidInput
from assay.runner.space import (
    Choice,
    IntRange,
    Space,
    Uniform,
    parse_dimension,
    parse_grid,
    parse_space,
    space_of,
    typed,
)


def test_values_typed_as_they_read() -> None:
    assert [typed(t) for t in ["3", "0.1", "1e-3", "true", "False", "none", "rf"]] == [
        3,
        0.1,
        1e-3,
        True,
        False,
        None,
        "rf",
    ]


def test_grid_and_distributions_parse() -> None:
    assert parse_grid("lr=0.01,0.1") == ("lr", Choice((0.01, 0.1)))
    assert parse_grid("depth=int(3,5)")[1].values() == [3, 4, 5]
    assert parse_dimension("lr=loguniform(1e-4,1e-1)") == ("lr", Uniform(1e-4, 1e-1, log=True))
    assert parse_dimension("x=uniform(-1, 1)") == ("x", Uniform(-1, 1))
    assert parse_dimension("n=randint(1,9)") == ("n", IntRange(1, 9))
    assert parse_dimension("w=logint(8,512)") == ("w", IntRange(8, 512, log=True))
    assert parse_dimension("m=choice(rf, 'gb', 3)") == ("m", Choice(("rf", "gb", 3)))


@pytest.mark.parametrize(
    ("flag", "spec", "says"),
    [
        ("--grid", "lr", "write NAME=VALUES"),
        ("--grid", "1lr=1,2", "is not a parameter name"),
        ("--grid", "lr=uniform(0,1)", "no finite list of values"),
        ("--random", "lr=loguniform(0,1)", "its low end must be > 0"),
        ("--random", "lr=loguniform(1e-4)", "loguniform takes 2 numbers"),
        ("--random", "lr=normal(0,1)", "unknown distribution 'normal'"),
        ("--random", "lr=uniform(0,1", "does not parse"),
        ("--random", "lr=uniform(2,1)", "needs low < high"),
        ("--random", "n=int(1.5,3)", "whole numbers"),
        ("--random", "m=choice(1,1)", "repeats a value"),
        ("--random", "lr=uniform(x+1, 2)", "is not a number"),
    ],
)
def test_bad_specs_are_one_line(flag: str, spec: str, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_space([(flag, spec)])
    assert says in err.value.message and "\n" not in err.value.message
    assert spec in err.value.message or flag == "--grid"


def test_a_name_given_twice_or_searched_and_fixed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        parse_space([("--grid", "a=1,2"), ("--grid", "a=3")])
    with pytest.raises(InvalidInput, match="both searched and fixed"):
        parse_space([("--grid", "a=1,2")], {"a": 3})


def test_python_space_lists_are_choices_and_scalars_fixed() -> None:
    sp = space_of({"lr": assay.loguniform(1e-4, 1e-1), "depth": [3, 5], "epochs": 10})
    assert sp.dimensions["depth"] == Choice((3, 5)) and sp.fixed == {"epochs": 10}
    assert Space.from_dict(sp.to_dict()) == sp


def test_grid_is_the_product_first_dimension_slowest() -> None:
    sp = parse_space([("--grid", "a=1,2"), ("--grid", "b=x,y,z")])
    points = sp.grid()
    assert len(points) == 6 and points[0] == {"a": 1, "b": "x"} and points[3] == {"a": 2, "b": "x"}


def test_random_points_are_seeded_per_trial_and_in_range() -> None:
    sp = space_of({"lr": assay.loguniform(1e-4, 1e-1), "n": assay.logint(8, 512)})
    first = [sp.sample(7, i) for i in range(50)]
    assert first == [sp.sample(7, i) for i in range(50)]  # a resume proposes the same points
    assert first != [sp.sample(8, i) for i in range(50)]
    assert all(1e-4 <= p["lr"] <= 1e-1 and 8 <= p["n"] <= 512 for p in first)


def test_optuna_distributions() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sp = parse_space(
        [("--space", "lr=loguniform(1e-4,1e-1)"), ("--space", "n=int(1,4)"), ("--space", "m=a,b")]
    )
    d = sp.to_optuna()
    assert d["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["n"] == IntDistribution(1, 4)
    assert d["m"] == CategoricalDistribution(("a", "b"))


def test_a_grid_too_large_is_refused() -> None:
    with pytest.raises(InvalidInput, match="more than"):
        parse_space([("--grid", "a=int(1,1000)"), ("--grid", "b=int(1,1000)")]).grid()
