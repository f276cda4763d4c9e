import pytest

from zhizhi.gis.codes import (
    CodeBook,
    InvalidCodeError,
    Level,
    chain,
    child_code,
    install_book,
    is_within,
    level_of,
    parent_of,
    validate_code,
    within_parts,
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


# --- an imported hierarchy's own codes -------------------------------------------------------

#: A county whose codes mostly nest, with a dedicated grid coded its own way and two towns whose
#: codes are prefixes of each other's ("T1" and "T10"), so LIKE 'T1%' would catch the wrong town.
PARENTS = {"D": None, "T1": "D", "T10": "D", "T1V1": "T1", "T10V1": "T10", "T1V1G1": "T1V1",
           "ZS-9": "T1V1", "T10V1G1": "T10V1"}
LEVELS = {"D": Level.DISTRICT, "T1": Level.TOWN, "T10": Level.TOWN, "T1V1": Level.VILLAGE,
          "T10V1": Level.VILLAGE, "T1V1G1": Level.GRID, "ZS-9": Level.GRID, "T10V1G1": Level.GRID}


@pytest.fixture
def county_book():
    book = CodeBook(PARENTS, LEVELS)
    install_book(book)
    yield book
    install_book(None)


def test_an_installed_book_answers_from_the_table(county_book):
    assert not county_book.prefix_exact
    assert validate_code("ZS-9") == "ZS-9" and level_of("ZS-9") is Level.GRID and parent_of("ZS-9") == "T1V1"
    assert chain("ZS-9") == ["D", "T1", "T1V1", "ZS-9"]
    assert is_within("ZS-9", "T1") and not is_within("T10V1G1", "T1") and is_within("T10V1G1", "T10")
    assert is_within("320612101", "320612")  # a code the book does not know keeps the prefix rule
    with pytest.raises(InvalidCodeError):
        level_of("nope")


def test_within_parts_lists_only_what_the_prefix_misses(county_book):
    assert within_parts("T1V1") == (True, frozenset({"ZS-9"}))  # LIKE 'T1V1%' plus the dedicated grid
    prefix, listed = within_parts("T1")  # LIKE 'T1%' would catch T10: the subtree is listed
    assert not prefix and listed == frozenset({"T1", "T1V1", "T1V1G1", "ZS-9"})
    assert within_parts("T10") == (True, frozenset())
    install_book(None)
    assert within_parts("T1") == (True, frozenset())
