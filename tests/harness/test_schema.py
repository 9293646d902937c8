"""Structure of harness/results/schema/result-v2.json (the current result format) and its agreement with the code.

These tests check the schema's own structure, that sample objects produced by
the harness modules carry exactly the keys the schema declares, and that such a
sample validates with ``jsonschema`` (draft 2020-12).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.measure.accounting import (
    CONNECT_FAILURE_KINDS,
    ConnectFailures,
    DeliveryCounts,
    DeliveryLedger,
    UnexpectedCloses,
)
from harness.measure.aggregation import HealthThresholds, ProcessHealth
from harness.measure.fingerprint import Fingerprint, collect_fingerprint
from harness.measure.latency import LatencyRecorder, LatencySummary
from harness.measure.metric_set import MetricSet
from harness.measure.resources import ProcessSample, RedisSample
from harness.results import JoinStormPhase, TimePoint

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "harness" / "results" / "schema" / "result-v2.json"


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def walk(node, path="#"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def resolve(schema, node):
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = schema["$defs"][ref.removeprefix("#/$defs/")]
    return node


def test_schema_header(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("result-v2.json")
    assert schema["properties"]["schema_version"]["const"] == 2
    assert set(schema["required"]) == {
        "schema_version",
        "run_id",
        "created",
        "fingerprint",
        "config",
        "cells",
    }


def test_every_property_is_described_and_required_keys_exist(schema):
    checked = 0
    for path, node in walk(schema):
        # A node reached through ".../properties" is a name->schema map, not a schema.
        if path.endswith("/properties") or not isinstance(node.get("properties"), dict):
            continue
        for name, prop in node["properties"].items():
            assert "description" in prop, f"{path}/properties/{name} has no description"
            checked += 1
        missing = set(node.get("required", [])) - set(node["properties"])
        assert not missing, f"{path} requires undeclared {missing}"
    assert checked > 80


def test_all_refs_resolve(schema):
    for path, node in walk(schema):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in schema["$defs"], path


def test_cell_declares_the_matrix_and_sections(schema):
    cell = schema["$defs"]["cell"]
    for key in ("server", "layer", "workers", "scenario", "metrics", "delivery", "connect_failures"):
        assert key in cell["required"]
    for key in ("unexpected_closes", "generator_health", "server_resources", "slo_verdicts"):
        assert key in cell["required"]
    health = schema["$defs"]["generator_health"]["properties"]
    assert {"processes", "thresholds", "send_lag", "generator_bound", "generator_bound_reasons"} <= set(health)
    sample = schema["$defs"]["server_resources"]["properties"]["processes"]["items"]["properties"]["samples"]
    assert set(sample["items"]["properties"]) == {"t_s", "cpu_percent", "rss_bytes", "num_fds"}
    assert set(schema["$defs"]["slo_verdict"]["properties"]) >= {
        "metric",
        "statistic",
        "limit",
        "observed",
        "pass",
    }


def test_schema_matches_code_field_names(schema):
    defs = schema["$defs"]
    summary_fields = {f.name for f in dataclasses.fields(LatencySummary)}
    assert set(defs["metric"]["properties"]) == summary_fields | {
        "histogram",
        "highest_trackable_us",
        "significant_figures",
    }
    assert set(defs["generator_health"]["properties"]["send_lag"]["properties"]) == summary_fields
    assert set(defs["delivery"]["properties"]) == {f.name for f in dataclasses.fields(DeliveryCounts)}
    assert set(defs["connect_failures"]["properties"]) == set(CONNECT_FAILURE_KINDS)
    assert set(defs["fingerprint"]["properties"]) == {f.name for f in dataclasses.fields(Fingerprint)}
    # The parts result.json shares with the generator's own file have one shape, the code's.
    health = defs["generator_health"]["properties"]
    process = ProcessHealth("p", "worker", "h", 1, 1.0, 2.0, 3, 4, False, ())
    assert set(health["processes"]["items"]["properties"]) == set(process.to_dict())
    assert set(health["thresholds"]["properties"]) == {f.name for f in dataclasses.fields(HealthThresholds)}
    points = defs["timeseries"]["properties"]["points"]["items"]
    assert list(points["properties"]) == [f.name for f in dataclasses.fields(TimePoint)] == points["required"]
    samples = defs["server_resources"]["properties"]["processes"]["items"]["properties"]["samples"]["items"]
    assert set(samples["properties"]) == {f.name for f in dataclasses.fields(ProcessSample)}
    redis = defs["server_resources"]["properties"]["redis"]["items"]
    assert set(redis["properties"]) == {f.name for f in dataclasses.fields(RedisSample)}
    storm = defs["join_storm"]
    assert set(storm["properties"]) == set(_join_storm().to_dict()) == set(storm["required"])
    assert set(storm["properties"]["connect"]["properties"]) == summary_fields


def _join_storm() -> JoinStormPhase:
    connect = LatencyRecorder()
    for v in (900, 1_200, 40_000):
        connect.record_us(v)
    return JoinStormPhase(
        group_size=10,
        groups=2,
        connected=19,
        connect=connect.summary(),
        presence_received=104,
        presence_after_release=0,
        all_joined=False,
        duration_s=1.25,
        settled=True,
    )


def check_keys(schema, node, instance, path="$"):
    """Required keys present and no undeclared keys, recursively; not a full validator."""
    node = resolve(schema, node)
    if isinstance(instance, dict) and isinstance(node.get("properties"), dict):
        assert set(node.get("required", [])) <= set(instance), f"{path} lacks required keys"
        if node.get("additionalProperties") is False:
            extra = set(instance) - set(node["properties"])
            assert not extra, f"{path} has undeclared keys {extra}"
        for key, value in instance.items():
            if key in node["properties"]:
                check_keys(schema, node["properties"][key], value, f"{path}.{key}")
    elif isinstance(instance, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, value in instance.items():
            check_keys(schema, node["additionalProperties"], value, f"{path}.{key}")
    elif isinstance(instance, list) and "items" in node:
        for i, value in enumerate(instance):
            check_keys(schema, node["items"], value, f"{path}[{i}]")
    if "const" in node:
        assert instance == node["const"], path


def sample_result():
    metrics = MetricSet()
    for v in (120, 340, 95_000_000):
        metrics.record_us("round_trip", v)
    lag = LatencyRecorder()
    lag.record_us(15)
    ledger = DeliveryLedger()
    for seq in (0, 2, 2, 1):
        ledger.observe("s", "r", seq)
    ledger.expect("s", "r", 0, 4)
    failures = ConnectFailures()
    failures.record("timeout")
    closes = UnexpectedCloses()
    closes.record(1006)
    lag_summary = lag.summary().to_dict()
    cell = {
        "server": "daphne",
        "layer": "redis",
        "workers": 2,
        "scenario": "echo",
        "parameters": {"rate_per_s": 100},
        "duration_s": 10.0,
        "metrics": {name: metrics.recorder(name).result_dict() for name in metrics.names()},
        "delivery": ledger.totals().to_dict(),
        "foreign_messages": ledger.foreign,
        "connect_failures": failures.to_dict(),
        "unexpected_closes": closes.to_dict(),
        "generator_health": {
            "processes": [
                {
                    "process_id": "1a2b",
                    "role": "worker",
                    "host": "gen-1",
                    "pid": 123,
                    "cpu_percent": {"mean": 40.0, "max": 71.5, "samples": 12},
                    "send_lag_p99_us": 850,
                    "generator_bound": False,
                    "generator_bound_reasons": [],
                }
            ],
            "thresholds": {"cpu_percent": 85.0, "send_lag_p99_ms": 5.0},
            "send_lag": lag_summary,
            "generator_bound": False,
            "generator_bound_reasons": [],
        },
        "server_resources": {
            "processes": [
                {
                    "name": "daphne",
                    "pid": 456,
                    "samples": [{"t_s": 0.0, "cpu_percent": 12.5, "rss_bytes": 50_000_000, "num_fds": 40}],
                }
            ]
        },
        "join_storm_by_group_size": [_join_storm().to_dict()],
        "slo_verdicts": [
            {
                "metric": "round_trip",
                "statistic": "p99",
                "limit": 250_000,
                "observed": 340,
                "unit": "us",
                "pass": True,
            }
        ],
    }
    return {
        "schema_version": 2,
        "run_id": "run-1",
        "created": "2026-01-01T00:00:00+00:00",
        "fingerprint": collect_fingerprint(seed=1, argv=["harness"]).to_dict(),
        "config": {"matrix": {}},
        "cells": [cell],
    }


def test_sample_result_has_exactly_the_declared_keys(schema):
    result = json.loads(json.dumps(sample_result()))
    check_keys(schema, schema, result)
    metric = result["cells"][0]["metrics"]["round_trip"]
    assert metric["out_of_range"] == 1 and metric["unit"] == "us"
    assert LatencyRecorder.decode(metric["histogram"]).count == metric["count"] == 2


def test_a_join_storm_carries_the_range_of_frames_a_whole_room_delivers(schema):
    (storm,) = sample_result()["cells"][0]["join_storm_by_group_size"]
    assert (storm["members"], storm["presence_expected_min"], storm["presence_expected_max"]) == (20, 110, 200)
    assert storm["all_joined"] is False
    assert storm["connect"]["count"] == 3 and storm["connect"]["unit"] == "us"


def test_key_check_catches_a_misspelt_field(schema):
    result = sample_result()
    result["cells"][0]["delivery"]["dupes"] = 1
    with pytest.raises(AssertionError, match="undeclared"):
        check_keys(schema, schema, result)


def test_sample_result_validates_against_the_schema(schema):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(sample_result())) == []
    broken = sample_result()
    broken["schema_version"] = 1
    assert list(validator.iter_errors(broken)), "a wrong schema_version must not validate"


def _typed_dicts():
    from harness.results import model

    sub = {
        "generator_health/properties/processes/items": model.ProcessHealthDoc,
        "generator_health/properties/processes/items/properties/cpu_percent": model.ProcessCpuDoc,
        "generator_health/properties/thresholds": model.HealthThresholdsDoc,
        "generator_health/properties/send_lag": model.LatencySummaryDoc,
        "server_resources/properties/processes/items": model.ServerProcessDoc,
        "server_resources/properties/processes/items/properties/samples/items": model.ProcessSampleDoc,
        "server_resources/properties/redis/items": model.RedisSampleDoc,
        "timeseries/properties/points/items": model.TimePointDoc,
        "cell/properties/layer_pressure": model.LayerPressureDoc,
        "join_storm/properties/connect": model.LatencySummaryDoc,
    }
    top = {
        "cell": model.CellDoc,
        "metric": model.MetricDoc,
        "delivery": model.DeliveryDoc,
        "connect_failures": model.ConnectFailuresDoc,
        "generator_health": model.GeneratorHealthDoc,
        "server_resources": model.ServerResourcesDoc,
        "slo_verdict": model.SloVerdictDoc,
        "timeseries": model.TimeSeriesDoc,
        "group_size_metric": model.GroupSizeMetricDoc,
        "join_storm": model.JoinStormDoc,
        "fingerprint": model.FingerprintDoc,
    }
    return {**top, **sub}


@pytest.mark.parametrize("where", sorted(_typed_dicts()))
def test_typed_model_has_the_schemas_keys(schema, where):
    node = schema["$defs"]
    for part in where.split("/"):
        node = node[part]
    typed = _typed_dicts()[where]
    assert set(typed.__annotations__) == set(node["properties"]), where
    assert set(typed.__required_keys__) == set(node.get("required", [])), where


def test_typed_model_of_the_root(schema):
    from harness.results.model import ResultDoc

    assert set(ResultDoc.__annotations__) == set(schema["properties"])
    assert set(ResultDoc.__required_keys__) == set(schema["required"])
