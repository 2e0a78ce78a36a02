"""The configuration file: valid files load, every kind of bad file gets one readable message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cutover.config import CutoverConfig
from cutover.configfile import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
MINIMAL = """\
targets:
  primary:
    url: http://127.0.0.1:8601
  candidate:
    url: http://127.0.0.1:8602
databases:
  monolith: sqlite:///data/monolith.sqlite
  services: postgresql+psycopg://cutover:${DB_PASSWORD}@db.example.com:5432/accounts
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cutover.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ if environ is not None else {"DB_PASSWORD": "s3cret"})
    message = str(caught.value)
    assert str(path) in message, "every message names the file"
    assert "\n" not in message, "one paragraph"
    return message


def test_shipped_configs_are_valid() -> None:
    sandbox = load_config(REPO / "cutover.yaml", {})
    assert sandbox.targets.primary.url == "http://127.0.0.1:8601"
    assert sandbox.databases.monolith == f"sqlite:///{REPO}/reports/sandbox/monolith.sqlite"
    secrets = {
        "CRM_MONOLITH_DB_PASSWORD": "a",
        "CRM_SERVICES_DB_PASSWORD": "b",
        "CUTOVER_STORE_PASSWORD": "c",
        "CUTOVER_REDACTION_KEY": "k" * 32,
    }
    example = load_config(REPO / "cutover.example.yaml", secrets)
    assert example.databases.services.startswith("postgresql+psycopg://cutover:b@")


def test_environment_placeholders_are_substituted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"DB_PASSWORD": "s3cret"})
    assert config.databases.services == (
        "postgresql+psycopg://cutover:s3cret@db.example.com:5432/accounts"
    )


def test_placeholder_fallback_is_used_only_when_variable_is_unset(tmp_path: Path) -> None:
    text = MINIMAL.replace("${DB_PASSWORD}", "${DB_PASSWORD:-fallback}")
    assert ":fallback@" in load_config(write(tmp_path, text), {}).databases.services
    assert (
        ":given@" in load_config(write(tmp_path, text), {"DB_PASSWORD": "given"}).databases.services
    )


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"DB_PASSWORD": "x"})
    assert config.databases.monolith == f"sqlite:///{tmp_path}/data/monolith.sqlite"
    assert config.reports.out_dir == tmp_path / "reports" / "out"
    assert config.shadow.store == f"sqlite:///{tmp_path}/reports/shadow.sqlite"


def test_loaded_config_is_immutable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"DB_PASSWORD": "x"})
    with pytest.raises(ValueError, match="frozen"):
        config.targets.primary.timeout_s = 1  # type: ignore[misc]


def test_missing_environment_variable(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL, environ={})
    assert "databases.services" in message
    assert "line 8" in message
    assert "${DB_PASSWORD}" in message
    assert "Export DB_PASSWORD" in message


def test_unknown_key_names_path_line_and_the_likely_key(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    url: http://127.0.0.1:8602", "    url: http://127.0.0.1:8602\n    timout_s: 3"
    )
    message = error_for(tmp_path, text)
    assert "targets.candidate.timout_s" in message
    assert "line 6" in message
    assert "did you mean 'timeout_s'" in message
    assert "expected one of: timeout_s, url" in message


def test_unknown_top_level_section(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "shadw:\n  enabled: false\n")
    assert "shadw (at line 9) is not a known key" in message
    assert "did you mean 'shadow'" in message


def test_wrong_type_names_value_and_expectation(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    url: http://127.0.0.1:8602", "    url: http://127.0.0.1:8602\n    timeout_s: soon"
    )
    message = error_for(tmp_path, text)
    assert "targets.candidate.timeout_s (at line 6) is 'soon'" in message
    assert "expected a valid number" in message


def test_bad_url_and_bad_database_url_are_both_reported(tmp_path: Path) -> None:
    text = MINIMAL.replace("http://127.0.0.1:8601", "ftp://legacy").replace(
        "sqlite:///data/monolith.sqlite", "oracle://crm"
    )
    message = error_for(tmp_path, text)
    assert "2 problems" in message
    assert (
        "targets.primary.url (at line 3) is 'ftp://legacy': expected an http:// or https:// URL"
        in message
    )
    assert "databases.monolith (at line 7) is 'oracle://crm'" in message
    assert "MariaDB/MySQL, PostgreSQL or SQLite URL, not oracle" in message


def test_missing_required_section(tmp_path: Path) -> None:
    text = MINIMAL.split("databases:")[0]
    message = error_for(tmp_path, text)
    assert "databases is required but missing" in message


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    message = error_for(tmp_path, "targets:\n  primary: [unclosed\n  candidate: {}\n")
    assert "malformed YAML at line" in message
    assert "column" in message


@pytest.mark.parametrize(
    ("text", "found"),
    [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text\n", "a str")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    assert f"found {found}" in error_for(tmp_path, text)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yaml", {})


def test_list_positions_are_named_in_paths() -> None:
    from cutover.configfile import _describe

    assert _describe(("shadow", "routes", 2, "match")) == "shadow.routes[2].match"


def test_every_section_forbids_unknown_keys() -> None:
    sections = [CutoverConfig, *[f.annotation for f in CutoverConfig.model_fields.values()]]
    for section in sections:
        assert getattr(section, "model_config", {}).get("extra") == "forbid", section


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ("unknown", "is not a known key"),
        ("type", "expected a valid number"),
        ("env", "which is not set"),
        ("yaml", "malformed YAML"),
    ],
)
def test_config_check_exits_non_zero_with_one_paragraph_and_no_traceback(
    tmp_path: Path, mutation: str, expected: str
) -> None:
    text = {
        "unknown": MINIMAL + "colour: blue\n",
        "type": MINIMAL.replace(
            "url: http://127.0.0.1:8602", "url: http://127.0.0.1:8602\n    timeout_s: x"
        ),
        "env": MINIMAL,
        "yaml": MINIMAL + "  - : :\n\t- broken",
    }[mutation]
    path = write(tmp_path, text)
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "400"}
    if mutation != "env":
        env["DB_PASSWORD"] = "x"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cutover"), "config", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert expected in result.stderr
    assert str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_shadow_rules_are_validated_as_part_of_the_file(tmp_path: Path) -> None:
    text = MINIMAL + (
        "shadow:\n"
        "  routes:\n"
        "    - name: debtor\n"
        "      match: {method: GET, path: /api/debtor.php}\n"
        "      ignor: ['$.generated_at']\n"
    )
    message = error_for(tmp_path, text)
    assert "shadow.routes[0].ignor (at line 13) is not a known key" in message
    assert "did you mean 'ignore'" in message


def test_redaction_secret_comes_from_the_environment_and_stays_secret(tmp_path: Path) -> None:
    text = MINIMAL + "shadow:\n  redaction:\n    secret: ${REDACTION_KEY}\n"
    config = load_config(write(tmp_path, text), {"DB_PASSWORD": "x", "REDACTION_KEY": "k" * 32})
    assert config.shadow.redaction is not None
    assert config.shadow.redaction.secret.get_secret_value() == "k" * 32
    assert "k" * 32 not in repr(config)


def test_a_message_shows_a_secret_as_the_file_writes_it(tmp_path: Path) -> None:
    """Messages land in terminals and CI logs: a value that came from the environment is shown as
    its placeholder, and a password written into a URL is masked."""
    from_environment = MINIMAL.replace("postgresql+psycopg://", "oracle+cx://")
    message = error_for(tmp_path, from_environment, {"DB_PASSWORD": "s3cret-from-env"})
    assert "databases.services (at line 8) is 'oracle+cx://cutover:${DB_PASSWORD}@" in message
    assert "s3cret-from-env" not in message

    written = MINIMAL.replace("postgresql+psycopg://cutover:${DB_PASSWORD}@",
                              "oracle://cutover:hunter2-in-file@")  # fmt: skip
    message = error_for(tmp_path, written)
    assert "is 'oracle://cutover:***@db.example.com" in message
    assert "hunter2" not in message


def test_the_shadow_store_is_sqlite_or_postgresql(tmp_path: Path) -> None:
    # MariaDB is fine for the customer's databases, but the store is not kept there.
    text = MINIMAL + "shadow:\n  store: mysql+pymysql://cutover:${DB_PASSWORD}@db:3306/cutover\n"
    message = error_for(tmp_path, text, {"DB_PASSWORD": "s3cret"})
    assert "shadow.store (at line 10) is 'mysql+pymysql://cutover:${DB_PASSWORD}@db:" in message
    assert "expected a SQLite or PostgreSQL URL" in message
    assert "s3cret" not in message
    for good in ("sqlite:///shadow.sqlite", "postgresql+psycopg://cutover@db:5432/cutover"):
        config = load_config(write(tmp_path, MINIMAL + f"shadow:\n  store: {good}\n"),
                             {"DB_PASSWORD": "x"})  # fmt: skip
        assert config.shadow.store.split(":")[0] == good.split(":")[0]


def test_the_worker_cpus_are_a_non_empty_list_of_cpu_numbers(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "shadow:\n  worker_cpus: [1, -2]\n")
    assert "shadow.worker_cpus[1] (at line 10) is -2" in message
    assert "greater than or equal to 0" in message
    message = error_for(tmp_path, MINIMAL + "shadow:\n  worker_cpus: []\n")
    assert "shadow.worker_cpus (at line 10)" in message
    assert "at least 1 item" in message
    config = load_config(write(tmp_path, MINIMAL + "shadow:\n  worker_cpus: [3]\n"),
                         {"DB_PASSWORD": "x"})  # fmt: skip
    assert config.shadow.worker_cpus == (3,)


def test_a_listed_test_tenant_may_carry_the_block_its_rows_come_from(tmp_path: Path) -> None:
    text = MINIMAL + (
        "shadow:\n  test_tenants:\n    - t-plain\n    - '-999000'\n"
        "    - {tenant: t-block, row_ids: [-1500000000, -1499999001]}\n"
    )
    config = load_config(write(tmp_path, text), {"DB_PASSWORD": "x"})
    assert config.shadow.listed_test_tenants() == {
        "t-plain": None,
        "-999000": None,
        "t-block": range(-1500000000, -1499999000),
    }


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{tenant: t-1, row_ids: [-1000, -2000]}", "the first id (-1000) is above the last"),
        ("{tenant: t-1, row_ids: [-2000]}", "row_ids"),
        ("{row_ids: [-2000, -1001]}", "tenant is required"),
        ("{tenant: '', row_ids: [-2000, -1001]}", "at least 1 character"),
    ],
)
def test_a_listed_test_tenants_block_must_be_two_ids_in_order(
    tmp_path: Path, entry: str, expected: str
) -> None:
    message = error_for(tmp_path, MINIMAL + f"shadow:\n  test_tenants:\n    - {entry}\n")
    assert "shadow.test_tenants[0]" in message
    assert "line 11" in message
    assert expected in message


def test_a_test_tenant_is_listed_once_and_blocks_do_not_overlap(tmp_path: Path) -> None:
    text = MINIMAL + (
        "shadow:\n  redaction:\n    secret: kT9vQ2mXy7LpR4sZ8wN3\n  test_tenants:\n    - t-1\n"
        "    - {tenant: t-1, row_ids: [-2000, -1001]}\n"
        "    - {tenant: t-2, row_ids: [-1500, -1]}\n"
    )
    message = error_for(tmp_path, text)
    assert "shadow.test_tenants[1].tenant (at line 14) is 't-1': expected a tenant listed once" in (
        message
    )
    assert "shadow.test_tenants[2].row_ids (at line 15)" in message
    assert "overlaps the block of 't-1'" in message
    assert "kT9vQ2mXy7LpR4sZ8wN3" not in message  # the section is not shown whole


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("010", "is 8: expected the tenant id in quotes"),  # YAML reads 010 as 8
        ("-999000", "is -999000: expected the tenant id in quotes"),
        ("' t-1'", "no spaces around it"),
        ("on", "is True: expected the tenant id in quotes"),  # YAML reads on as true
        ("{tenant: 010, row_ids: [-2000, -1001]}", "is 8: expected the tenant id in quotes"),
    ],
)
def test_a_tenant_id_is_text_as_written(tmp_path: Path, entry: str, expected: str) -> None:
    message = error_for(tmp_path, MINIMAL + f"shadow:\n  test_tenants:\n    - {entry}\n")
    assert "shadow.test_tenants[0]" in message
    assert expected in message


@pytest.mark.parametrize("row_ids", ["[1, 1000]", "[-1001000, -999001]"])
def test_a_listed_block_outside_the_reserved_range_is_refused(tmp_path: Path, row_ids: str) -> None:
    # Real customers' rows are outside the reserved range: a block reaching them would let a
    # listed tenant's writes name them.
    text = MINIMAL + f"shadow:\n  test_tenants:\n    - {{tenant: t-1, row_ids: {row_ids}}}\n"
    message = error_for(tmp_path, text)
    assert "shadow.test_tenants[0].row_ids (at line 11)" in message
    assert "inside the reserved range of test rows" in message
    assert "tenants.id_range_start -2000000000" in message
    assert "tenants.id_range_end -1000000" in message


def test_a_message_about_a_mapping_does_not_show_the_secret_in_it(tmp_path: Path) -> None:
    text = MINIMAL + "shadow:\n  redaction: {secret: kT9vQ2mXy7LpR4sZ8wN3, clear_keys: [status]}\n"
    message = error_for(tmp_path, text)
    assert "shadow.redaction (at line 10) is {'secret': '***', 'clear_keys': ['status']}" in message
    assert "kT9vQ2mXy7LpR4sZ8wN3" not in message
    # A placeholder is worth showing: it says which variable to look at.
    text = MINIMAL + "shadow:\n  redaction: {secret: '${KEY}', clear_keys: [status]}\n"
    message = error_for(tmp_path, text, {"DB_PASSWORD": "x", "KEY": "kT9vQ2mXy7LpR4sZ8wN3"})
    assert "'secret': '${KEY}'" in message
    assert "kT9vQ2mXy7LpR4sZ8wN3" not in message
