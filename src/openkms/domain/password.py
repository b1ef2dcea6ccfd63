"""GetRandomPassword: a password drawn from a CSPRNG over Alibaba's printable ASCII classes.

The random source is a parameter (``randbelow``, :func:`secrets.randbelow` by default) so tests
can prove each rule; nothing here uses :mod:`random`.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from openkms.domain.errors import InvalidValue

MIN_LENGTH = 8
MAX_LENGTH = 128
DEFAULT_LENGTH = 32
LOWERCASE = string.ascii_lowercase
UPPERCASE = string.ascii_uppercase
NUMBERS = string.digits
PUNCTUATION = string.punctuation  # !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
PRINTABLE = LOWERCASE + UPPERCASE + NUMBERS + PUNCTUATION

RandBelow = Callable[[int], int]


def character_classes(
    *,
    exclude_characters: str = "",
    exclude_lowercase: bool = False,
    exclude_uppercase: bool = False,
    exclude_numbers: bool = False,
    exclude_punctuation: bool = False,
) -> list[str]:
    """The non-empty classes left after every exclusion, in a fixed order.

    Raises:
        InvalidValue: nothing is left to draw from.
    """
    excluded = set(exclude_characters)
    classes = []
    for chars, dropped in (
        (LOWERCASE, exclude_lowercase),
        (UPPERCASE, exclude_uppercase),
        (NUMBERS, exclude_numbers),
        (PUNCTUATION, exclude_punctuation),
    ):
        left = "".join(c for c in chars if c not in excluded)
        if not dropped and left:
            classes.append(left)
    if not classes:
        raise InvalidValue("ExcludeCharacters", "The exclusions leave no character to draw from.")
    return classes


def generate(
    length: int,
    classes: list[str],
    *,
    require_each: bool,
    randbelow: RandBelow = secrets.randbelow,
) -> str:
    """A password of ``length`` characters drawn uniformly from the union of ``classes``.

    With ``require_each``, one position per class is first filled from that class, the rest from
    the union, and the positions are then shuffled (Fisher-Yates), so every class appears and
    no class sits at a predictable place.
    """
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidValue("PasswordLength", f"It must be an integer in [{MIN_LENGTH}, {MAX_LENGTH}].")
    union = "".join(classes)
    chars = [c[randbelow(len(c))] for c in classes] if require_each else []
    chars += [union[randbelow(len(union))] for _ in range(length - len(chars))]
    for i in range(len(chars) - 1, 0, -1):
        j = randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)
