"""TR-181 booleans and integers in every lexical form a device, an ACS or JSON sends, read by one
module (``core.kernel.values``): the registry (write gate), the simulator (device side) and the planner's
readers agree on what is true, what is a number, and what is neither."""

from __future__ import annotations

from typing import Any

import pytest

from brain.tools import radios_from_values
from core.kernel.datamodel.registry import DataModelError, get_registry
from core.kernel.values import LexicalError, as_bool, as_int, parse_bool
from executors.sim.catalog import models
from executors.sim.values import ValueProblem, coerce

TRUE_FORMS: list[Any] = [True, "true", "TRUE", "True", "1", 1]
FALSE_FORMS: list[Any] = [False, "false", "False", "0", 0]
NOT_BOOL: list[Any] = ["yes", "no", "on", "", "2", 2, -1, None, 1.0, "t", "truee", " true", "false\n", [True]]
INTS: list[tuple[Any, int]] = [(3600, 3600), ("3600", 3600), ("-5", -5), ("+7", 7), (12.0, 12),
                               ("007", 7)]
NOT_INT: list[Any] = [True, False, "1.5", 1.5, "", "abc", "1e3", "0x10", "1_000", "١٢", None, "12 13", " 36",
                      "36\n", [1]]


@pytest.mark.parametrize("value", TRUE_FORMS)
def test_true_forms(value: Any) -> None:
    assert parse_bool(value) is True and as_bool(value) is True


@pytest.mark.parametrize("value", FALSE_FORMS)
def test_false_forms(value: Any) -> None:
    assert parse_bool(value) is False and as_bool(value) is False


@pytest.mark.parametrize("value", NOT_BOOL)
def test_anything_else_is_not_a_boolean(value: Any) -> None:
    assert parse_bool(value) is None
    with pytest.raises(LexicalError, match=r"expected a boolean \(true/false/1/0\), got") as exc:
        as_bool(value)
    assert repr(value) in str(exc.value)


@pytest.mark.parametrize(("value", "number"), INTS)
def test_integer_forms(value: Any, number: int) -> None:
    got = as_int(value)
    assert got == number and type(got) is int


@pytest.mark.parametrize("value", NOT_INT)
def test_anything_else_is_not_an_integer(value: Any) -> None:
    with pytest.raises(LexicalError, match="expected an integer, got") as exc:
        as_int(value)
    assert repr(value) in str(exc.value)


def test_lexical_error_is_a_value_error() -> None:
    """Callers that already handle ValueError (pydantic validators, CLI parsing) keep working."""
    assert issubclass(LexicalError, ValueError)


BOOL_PATH = "Device.WiFi.Radio.1.AutoChannelEnable"
INT_PATH = "Device.ManagementServer.PeriodicInformInterval"


@pytest.mark.parametrize("value", [*TRUE_FORMS, *FALSE_FORMS, *NOT_BOOL[:-1]])
def test_the_registry_and_the_simulator_agree_on_booleans(value: Any) -> None:
    reg = get_registry()
    spec = next(m for m in models() if not m.is_tr098).spec(BOOL_PATH)
    assert spec is not None
    want = parse_bool(value)
    if want is None:
        with pytest.raises(DataModelError, match="boolean"):
            reg.validate(BOOL_PATH, value)
        with pytest.raises(ValueProblem, match="boolean"):
            coerce(value, spec)
    else:
        assert reg.validate(BOOL_PATH, value) is want
        assert coerce(value, spec) is want


@pytest.mark.parametrize("value", [v for v, _ in INTS] + NOT_INT[:-1])
def test_the_registry_reads_integers_as_as_int_does(value: Any) -> None:
    reg = get_registry()
    try:
        want: int | None = as_int(value)
    except LexicalError:
        want = None
    err = reg.check(INT_PATH, value)  # PeriodicInformInterval: unsignedInt 1..
    if want is None:
        assert err is not None and err.rule == "type", value
    elif want >= 1:
        assert err is None and reg.validate(INT_PATH, value) == want
    else:
        assert err is not None and err.rule == "range", value  # a number, but outside the facet


def test_the_planner_reads_device_strings_through_the_same_forms() -> None:
    values = {"Device.WiFi.Radio.1.AutoChannelEnable": "1", "Device.WiFi.Radio.1.Channel": "6",
              "Device.WiFi.Radio.1.TransmitPower": "Auto",
              "Device.WiFi.Radio.2.AutoChannelEnable": "yes", "Device.WiFi.Radio.2.Channel": "36"}
    r1, r2 = radios_from_values(values)
    assert (r1.auto_channel, r1.channel, r1.tx_power) == (True, 6, None)
    assert (r2.auto_channel, r2.channel) == (False, 36)  # "yes" is not a TR-181 true
