"""Names that look like nothing, or like someone else's (issue 56, item 4).

Round four refused spaces, control and format characters; still accepted were the filler characters
that draw nothing but are letters or symbols to Unicode — U+3164 HANGUL FILLER, U+2800 BRAILLE PATTERN
BLANK, U+034F COMBINING GRAPHEME JOINER, U+115F HANGUL CHOSEONG FILLER — so ``dave\\u3164`` looked like
``dave``, and names mixing scripts with look-alike letters (``dаve`` with a Cyrillic ``а``). Found by
property (Default_Ignorable_Code_Point, White_Space, the C and Z categories) and by the confusables of
Unicode's UTS #39 data (``confusable_homoglyphs``), not by a hand list of characters: the test draws its
cases from the Unicode database, every character of those properties in the BMP.
"""

from __future__ import annotations

import unicodedata

import pytest
import regex

from core.names import name_problem

FILLERS = ["\u3164", "\u2800", "\u034f", "\u115f", "\u1160", "\uffa0", "\u180b", "\u17b4", "\u2064", "\U000e0020"]


@pytest.mark.parametrize("filler", FILLERS, ids=[f"U+{ord(c):04X}" for c in FILLERS])
@pytest.mark.parametrize("where", ["end", "middle", "alone"])
def test_a_filler_that_draws_nothing_is_refused(filler: str, where: str) -> None:
    name = {"end": "dave" + filler, "middle": "da" + filler + "ve", "alone": filler}[where]
    problem = name_problem(name)
    assert problem is not None and "invisible" in problem and f"U+{ord(filler):04X}" in problem, repr(name)


def test_every_default_ignorable_or_blank_code_point_is_refused() -> None:
    """Every BMP character Unicode calls default-ignorable, white space, a control, a format
    character or a separator: none may sit in a name."""
    prop = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{White_Space}\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]")
    found = [chr(c) for c in range(0x10000) if prop.match(chr(c)) and not 0xD800 <= c <= 0xDFFF]
    assert len(found) > 100  # the properties really were read (164 in Unicode 15)
    accepted = [f"U+{ord(c):04X}" for c in found if name_problem("dave" + c) is None]
    assert accepted == []


@pytest.mark.parametrize("name", ["dаve", "раul", "pаypal", "bоb.smith", "αlice", "Ivаn"],
                         ids=["cyrillic-a", "cyrillic-p-a", "paypal", "cyrillic-o", "greek-alpha", "latin-in-cyrillic"])
def test_a_name_mixing_scripts_with_look_alike_letters_is_refused(name: str) -> None:
    problem = name_problem(name)
    assert problem is not None and "looks like" in problem, (name, problem)


@pytest.mark.parametrize("name", ["dave", "José", "jürgen.müller@noc", "Иван", "李雷", "ΑΒΓ", "O'Brien", "Jean-Luc",
                                  "ｄａｖｅ", "bob_2"])
def test_ordinary_names_in_one_script_are_kept(name: str) -> None:
    assert name_problem(name) is None, (name, name_problem(name))


def test_combining_marks_cannot_start_a_name_or_pile_up() -> None:
    assert name_problem("\u0301dave") is not None
    assert name_problem("da" + "\u0301" * 6 + "ve") is not None
    assert name_problem("José") is None and name_problem(unicodedata.normalize("NFD", "José")) is None
