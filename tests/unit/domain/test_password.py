"""GetRandomPassword: classes, exclusions, RequireEachIncludedType, length."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain import errors
from openkms.domain.password import (
    LOWERCASE,
    NUMBERS,
    PRINTABLE,
    PUNCTUATION,
    UPPERCASE,
    character_classes,
    generate,
)


def test_punctuation_is_alibabas_printable_set() -> None:
    """The generator draws from 0-9 a-z A-Z and the 32 ASCII punctuation characters."""
    assert PUNCTUATION == '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'
    assert len(set(PRINTABLE)) == 94


@pytest.mark.parametrize(
    ("flag", "chars"),
    [
        ("exclude_lowercase", LOWERCASE),
        ("exclude_uppercase", UPPERCASE),
        ("exclude_numbers", NUMBERS),
        ("exclude_punctuation", PUNCTUATION),
    ],
)
def test_each_exclusion_flag_removes_its_class(flag: str, chars: str) -> None:
    """Each Exclude* flag removes exactly its class."""
    classes = character_classes(**{flag: True})
    assert set(PRINTABLE) - set(chars) == set("".join(classes))
    for _ in range(50):
        assert not set(generate(128, classes, require_each=False)) & set(chars)


def test_exclude_characters() -> None:
    """ExcludeCharacters removes single characters; a class emptied by it is no longer required."""
    classes = character_classes(exclude_characters=string.digits + "abc")
    assert [LOWERCASE[3:], UPPERCASE, PUNCTUATION] == classes
    for _ in range(50):
        password = generate(8, classes, require_each=True)
        assert not set(password) & set(string.digits + "abc")


def test_everything_excluded_is_invalid() -> None:
    """Exclusions that leave nothing to draw from are InvalidParameter."""
    with pytest.raises(errors.InvalidValue):
        character_classes(exclude_lowercase=True, exclude_uppercase=True, exclude_numbers=True, exclude_punctuation=True)
    with pytest.raises(errors.InvalidValue):
        character_classes(exclude_characters=PRINTABLE)


def test_require_each_included_type_even_from_a_biased_source() -> None:
    """With RequireEachIncludedType every class appears, even if the source always answers 0;
    without it that source gives one repeated character."""
    classes = character_classes()
    rigged = generate(8, classes, require_each=True, randbelow=lambda n: 0)
    assert all(set(rigged) & set(c) for c in classes)
    assert generate(8, classes, require_each=False, randbelow=lambda n: 0) == "aaaaaaaa"


@given(
    st.integers(min_value=8, max_value=128),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.text(alphabet=PRINTABLE, max_size=40),
)
def test_properties(length: int, lower: bool, upper: bool, numbers: bool, punct: bool, excluded: str) -> None:
    """Any setting: the exact length, only allowed characters, every remaining class present."""
    try:
        classes = character_classes(
            exclude_characters=excluded,
            exclude_lowercase=lower,
            exclude_uppercase=upper,
            exclude_numbers=numbers,
            exclude_punctuation=punct,
        )
    except errors.InvalidValue:
        return
    password = generate(length, classes, require_each=True)
    assert length == len(password)
    assert set(password) <= set("".join(classes))
    assert all(set(password) & set(c) for c in classes)


@pytest.mark.parametrize("length", [7, 129])
def test_length_bounds(length: int) -> None:
    """PasswordLength is 8 to 128."""
    with pytest.raises(errors.InvalidValue):
        generate(length, character_classes(), require_each=True)
