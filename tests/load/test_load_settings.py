"""The `load:` section: gates parsed at load time, rate caps and test tenants enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cutover.configfile import load_config
from load.gates import Gate
from load.settings import LoadSettings


def section(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "max_rps": 500,
        "environment": "sandbox",
        "environments": {"sandbox": {"max_rps": 300, "test_clients": [3]}},
        "gates": {"each": ["p95 < 300ms", "p95 <= 1.10x primary"], "total": ["rps >= 50"]},
        "profiles": {"smoke": {"tenant": 3, "rate": 100, "duration_s": 10, "warmup_s": 2}},
    }
    base.update(overrides)
    return base


def test_a_good_section_loads_with_parsed_gates() -> None:
    settings = LoadSettings.model_validate(section())
    assert settings.gates.each[1] == Gate("p95", "<=", 1.10, relative=True)
    assert settings.rate_cap() == 300
    profile = settings.profiles["smoke"]
    assert settings.gates_for(profile) is settings.gates
    dumped = settings.model_dump(mode="json")
    assert dumped["gates"]["each"] == ["p95 < 300ms", "p95 <= 1.1x primary"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gates": {"each": ["p95 < 300kg"]}}, "latency takes ms, s or us"),
        (
            {"profiles": {"x": {"tenant": 3, "rate": 301}}},
            "above the cap of 300 for environment 'sandbox'",
        ),
        (
            {"profiles": {"x": {"tenant": 1, "rate": 10}}},
            "not a test tenant of environment 'sandbox'",
        ),
        ({"environment": "prod"}, "'prod' is not declared"),
        (
            {"profiles": {"x": {"tenant": 3, "rate": 10, "duration_s": 5, "warmup_s": 5}}},
            "must be shorter than duration_s",
        ),
        (
            {"profiles": {"x": {"tenant": 3, "rate": 10, "personas": {"agent": 0}}}},
            "at least one must be positive",
        ),
        (
            {"profiles": {"x": {"tenant": 3, "rate": 10, "personas": {"robot": 1}}}},
            "'agent', 'payments', 'dashboard' or 'dump'",
        ),
        ({"profiles": {"x": {"tenant": 3, "rate": 10, "typo": 1}}}, "Extra inputs"),
    ],
)
def test_mistakes_are_refused_with_a_message(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LoadSettings.model_validate(section(**overrides))
    assert message in str(caught.value)


def test_the_global_cap_applies_when_it_is_lower() -> None:
    settings = LoadSettings.model_validate(section(max_rps=120))
    assert settings.rate_cap() == 120
    with pytest.raises(ValidationError, match="above the cap of 120"):
        LoadSettings.model_validate(
            section(max_rps=120, profiles={"x": {"tenant": 3, "rate": 121}})
        )


def test_the_cutover_config_carries_the_load_section(tmp_path: Path) -> None:
    config = tmp_path / "cutover.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "targets": {
                    "primary": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2"},
                },
                "databases": {"monolith": "sqlite:///m.sqlite", "services": "sqlite:///s.sqlite"},
                "load": section(),
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    loaded = load_config(config, {})
    assert isinstance(loaded.load, LoadSettings)
    assert loaded.load.profiles["smoke"].rate == 100
    assert loaded.load.max_rps == 500
    bare = config.read_text().split("load:")[0] + "reports: {}\n"
    config.write_text(bare, encoding="utf-8")
    assert load_config(config, {}).load.max_rps == 500  # the section stays optional


def test_an_environment_is_not_production_unless_it_says_so() -> None:
    # The one notion of a named environment: the scenario suites' --env reads this flag.
    environments: dict[str, dict[str, Any]] = {
        "sandbox": {"max_rps": 300, "test_clients": [3]},
        "live": {"max_rps": 50, "production": True},
    }
    settings = LoadSettings.model_validate(section(environments=environments))
    assert settings.environments["sandbox"].production is False
    assert settings.environments["live"].production is True
    environments["sandbox"]["production"] = "perhaps"
    with pytest.raises(ValidationError, match="production"):
        LoadSettings.model_validate(section(environments=environments))
