"""Compiling a :class:`Condition` into a plain predicate over a record's values.

Conditions are compiled once per model, so scoring a lead costs a few closure calls rather than a
walk over pydantic objects. Values are read leniently: ``None``, empty and blank strings are
missing; numbers may be written ``"1,200"``; anything unusable makes that one test false and never
raises, because a bad value must spoil one rule, not the record.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable, Mapping

from leadscore.agent.scoring.model import Condition

Predicate = Callable[[Mapping[str, Any]], bool]


def text_value(value: Any) -> str | None:
    """The value as stripped text, or None when missing."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def number_value(value: Any) -> float | None:
    """The value as a finite number, or None when missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().replace(",", "").replace("_", "")
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def is_bad_number(value: Any) -> bool:
    """True when a value is present but is not a number (worth a warning on the result)."""
    return text_value(value) is not None and number_value(value) is None


def _norm(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


def _many(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _all_of(tests: list[Predicate]) -> Predicate:
    return _combined(tests, lambda a, b: lambda v: a(v) and b(v), lambda a, b, c: lambda v: a(v) and b(v) and c(v), all)


def _any_of(tests: list[Predicate]) -> Predicate:
    return _combined(tests, lambda a, b: lambda v: a(v) or b(v), lambda a, b, c: lambda v: a(v) or b(v) or c(v), any)


def _combined(
    tests: list[Predicate],
    two: Callable[[Predicate, Predicate], Predicate],
    three: Callable[[Predicate, Predicate, Predicate], Predicate],
    many: Callable[[Iterable[bool]], bool],
) -> Predicate:
    """``tests`` joined by ``and`` (``all``) or ``or`` (``any``), unrolled for the common small
    cases: a generator inside ``all()``/``any()`` costs twice as much."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        return two(*tests)
    if len(tests) == 3:
        return three(*tests)
    frozen = tuple(tests)
    return lambda v: many(t(v) for t in frozen)


def compile_condition(cond: Condition) -> Predicate:
    """Every test present on the condition must hold (leaf operators, ``all``, ``any``, ``not``)."""
    tests: list[Predicate] = []
    if cond.field is not None:
        tests.extend(_leaf_tests(cond))
    if cond.all is not None:
        tests.append(_all_of([compile_condition(c) for c in cond.all]))
    if cond.any is not None:
        tests.append(_any_of([compile_condition(c) for c in cond.any]))
    if cond.not_ is not None:
        inner = compile_condition(cond.not_)
        tests.append(lambda v: not inner(v))
    return _all_of(tests)


def _text_test(name: str, case_sensitive: bool, check: Callable[[str], bool]) -> Predicate:
    """A test on the field's text. The ``str`` fast path skips :func:`text_value`'s type checks,
    which matter at a few dozen tests per lead."""
    if case_sensitive:

        def test(values: Mapping[str, Any]) -> bool:
            raw = values.get(name)
            if raw is None:
                return False
            text = raw.strip() if raw.__class__ is str else text_value(raw)
            return bool(text) and check(text)  # type: ignore[arg-type]

    else:

        def test(values: Mapping[str, Any]) -> bool:
            raw = values.get(name)
            if raw is None:
                return False
            text = raw.strip() if raw.__class__ is str else text_value(raw)
            return bool(text) and check(text.casefold())  # type: ignore[union-attr]

    return test


def _contains_check(needles: tuple[str, ...]) -> Callable[[str], bool]:
    if len(needles) == 1:
        needle = needles[0]
        return lambda t: needle in t
    return lambda t: any(n in t for n in needles)


def _leaf_tests(cond: Condition) -> list[Predicate]:
    name = cond.field
    assert name is not None
    cs = cond.case_sensitive
    tests: list[Predicate] = []

    if cond.exists is not None:
        want = cond.exists
        tests.append(lambda v: (text_value(v.get(name)) is not None) == want)
    if cond.missing is not None:
        want_missing = cond.missing
        tests.append(lambda v: (text_value(v.get(name)) is None) == want_missing)
    if cond.equals is not None:
        tests.append(_equals_test(name, [cond.equals], cs))
    if cond.in_ is not None:
        tests.append(_equals_test(name, cond.in_, cs))
    if cond.contains is not None:
        tests.append(_text_test(name, cs, _contains_check(tuple(_norm(n, cs) for n in _many(cond.contains)))))
    if cond.starts_with is not None:
        prefixes = tuple(_norm(n, cs) for n in _many(cond.starts_with))
        tests.append(_text_test(name, cs, lambda t: t.startswith(prefixes)))
    if cond.ends_with is not None:
        suffixes = tuple(_norm(n, cs) for n in _many(cond.ends_with))
        tests.append(_text_test(name, cs, lambda t: t.endswith(suffixes)))
    if cond.regex is not None:
        search = re.compile(cond.regex, 0 if cs else re.IGNORECASE).search
        # The pattern carries the case rule, so it sees the text as written.
        tests.append(_text_test(name, True, lambda t: search(t) is not None))
    if any(b is not None for b in (cond.gte, cond.gt, cond.lte, cond.lt)):
        tests.append(_range_test(name, cond.gte, cond.gt, cond.lte, cond.lt))
    return tests


def _equals_test(name: str, options: list[Any], cs: bool) -> Predicate:
    """Equality against text or numbers: ``equals = 500`` matches ``"500"`` and ``500.0``."""
    texts = frozenset(_norm(o, cs) for o in options if isinstance(o, str))
    numbers = frozenset(float(o) for o in options if isinstance(o, (int, float)) and not isinstance(o, bool))
    bools = frozenset(("true" if o else "false") for o in options if isinstance(o, bool))
    if not numbers and not bools:
        return _text_test(name, cs, texts.__contains__)

    def test(values: Mapping[str, Any]) -> bool:
        raw = values.get(name)
        text = text_value(raw)
        if text is None:
            return False
        if bools and text.casefold() in bools:
            return True
        if texts and _norm(text, cs) in texts:
            return True
        if numbers:
            number = number_value(raw)
            return number is not None and number in numbers
        return False

    return test


def _range_test(
    name: str, gte: float | None, gt: float | None, lte: float | None, lt: float | None
) -> Predicate:
    low = -math.inf if gte is None and gt is None else (gte if gte is not None else gt)
    high = math.inf if lte is None and lt is None else (lte if lte is not None else lt)
    low_open = gt is not None
    high_open = lt is not None

    def test(values: Mapping[str, Any]) -> bool:
        number = number_value(values.get(name))
        if number is None:
            return False
        if number < low or (low_open and number == low):  # type: ignore[operator]
            return False
        if number > high or (high_open and number == high):  # type: ignore[operator]
            return False
        return True

    return test
