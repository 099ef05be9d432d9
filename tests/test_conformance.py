"""The conformance suite (leadscore.connectors.testing) once per installed connector.

Harnesses are found like connectors, through entry points: each connector registers its harness
in the ``leadscore.conformance`` group (HubSpot's and Salesforce's ship beside their emulators; the
CSV connector in tests/plugins/leadscore-csv is a separate distribution, installed by ``make
install``). Every check runs once per harness (``test_pull_everything[hubspot]``), with the
harness's markers (``network``), and is skipped with the harness's reason where it opts out.
"""

from __future__ import annotations

from typing import Callable

import pytest

from leadscore.connectors.base import available_connectors
from leadscore.connectors.testing import ConformanceSuite, Harness, available_harnesses, load_harnesses

TestConformance = ConformanceSuite.for_installed()

HARNESSES = load_harnesses()


def test_the_built_in_connectors_and_the_csv_plugin_are_all_conformance_tested() -> None:
    assert {"hubspot", "salesforce", "csv"} <= set(HARNESSES), (
        f"harnesses found: {sorted(HARNESSES)}; is tests/plugins/leadscore-csv installed (make install)?"
    )


@pytest.mark.parametrize("name", sorted(available_connectors()))
def test_every_installed_connector_registers_a_harness(name: str) -> None:
    assert name in available_harnesses(), (
        f"connector {name!r} registers no harness in the leadscore.conformance entry-point group"
    )


@pytest.mark.parametrize(("name", "factory"), sorted(HARNESSES.items()), ids=sorted(HARNESSES))
def test_opt_outs_name_real_checks_with_a_reason(name: str, factory: Callable[[], Harness]) -> None:
    assert not ConformanceSuite.unknown_opt_outs(factory), f"{name}: {ConformanceSuite.unknown_opt_outs(factory)}"


def test_an_opt_out_naming_no_check_or_giving_no_reason_is_caught() -> None:
    class Sloppy:
        skip = {"test_fault_storm": "misspelt", "test_pull_everything": " "}

    assert ConformanceSuite.unknown_opt_outs(Sloppy) == {"test_fault_storm": "no such check", "test_pull_everything": "no reason given"}  # type: ignore[arg-type]
