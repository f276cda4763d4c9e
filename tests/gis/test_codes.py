import pytest

from zhizhi.gis.codes import (
    InvalidCodeError,
    Level,
    chain,
    child_code,
    is_within,
    level_of,
    parent_of,
)


def test_levels_and_chain():
    assert level_of("320612") is Level.DISTRICT
    assert level_of("320612101") is Level.TOWN
    assert level_of("320612101001") is Level.VILLAGE
    assert level_of("320612101001001") is Level.GRID
    assert chain("320612101001001") == ["320612", "320612101", "320612101001", "320612101001001"]
    assert parent_of("320612101") == "320612"
    assert parent_of("320612") is None


def test_within_is_prefix_of_whole_levels():
    assert is_within("320612101001", "320612101")
    assert is_within("320612101", "320612101")
    assert not is_within("320612102001", "320612101")


@pytest.mark.parametrize("bad", ["", "32061", "3206121", "32061210100a", "320612101001001001", None, 320612])
def test_invalid_codes_rejected(bad):
    with pytest.raises(InvalidCodeError, match="invalid jurisdiction code"):
        level_of(bad)


def test_child_code_bounds():
    assert child_code("320612", 7) == "320612007"
    with pytest.raises(InvalidCodeError):
        child_code("320612", 1000)
    with pytest.raises(InvalidCodeError, match="no children"):
        child_code("320612101001001", 1)
