"""The one table of scenario kinds agrees with the generator's kinds and with what harness run drives."""

from __future__ import annotations

from harness.load.options import KIND_CLASSES, KINDS
from harness.run.plan import GENERATOR_KIND, TIMECLOCK
from harness.scenario import KINDS as SCENARIO_KIND_NAMES
from harness.scenario import SCENARIO_KINDS


def test_every_scenario_kind_is_in_the_table_and_driven_by_someone() -> None:
    assert set(SCENARIO_KINDS) == set(SCENARIO_KIND_NAMES)
    for kind, spec in SCENARIO_KINDS.items():
        assert (spec.generator is None) == (kind == TIMECLOCK), kind
        if spec.generator is not None:
            assert spec.generator in KINDS and spec.generator in KIND_CLASSES, kind
    assert GENERATOR_KIND == {k: s.generator for k, s in SCENARIO_KINDS.items() if s.generator}


def test_generic_kinds_are_the_ones_any_server_can_serve() -> None:
    # echo and broadcast: a plain echo or broadcast server; app: the user's own app, described by its file.
    assert {k for k, s in SCENARIO_KINDS.items() if s.generic} == {"echo", "broadcast", "app"}
