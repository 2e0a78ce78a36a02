"""How the CLI plans a sandbox run from the config (the process is tested with the sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover.configfile import load_config
from cutover.sandboxctl import LOCAL_MARIADB_URL, LOCAL_POSTGRES_URL, plan_for

REPO = Path(__file__).resolve().parents[1]


def test_sqlite_plan_uses_the_config_files_and_target_ports() -> None:
    config = load_config(REPO / "cutover.yaml", {})
    plan = plan_for(config, REPO, "sqlite", ["rounding", "order"], seed_demo=True)
    assert plan.monolith_db_url == config.databases.monolith
    assert plan.services_db_url == config.databases.services
    assert (plan.monolith_port, plan.services_port) == (8601, 8602)
    assert plan.data_dir == REPO / "reports" / "sandbox"
    command = plan.command()
    assert command[command.index("--regressions") + 1] == "rounding,order"
    assert "--seed" in command


def test_real_plan_falls_back_to_local_servers_when_config_is_sqlite() -> None:
    plan = plan_for(load_config(REPO / "cutover.yaml", {}), REPO, "real")
    assert (plan.monolith_db_url, plan.services_db_url) == (LOCAL_MARIADB_URL, LOCAL_POSTGRES_URL)
    assert "--regressions" not in plan.command()


def test_database_urls_travel_in_the_environment_not_the_command_line(tmp_path: Path) -> None:
    config_file = tmp_path / "cutover.yaml"
    config_file.write_text(
        (REPO / "cutover.yaml")
        .read_text()
        .replace(
            "sqlite:///reports/sandbox/monolith.sqlite",
            "mysql+pymysql://crm:s3cret@127.0.0.1:3306/crm",
        )
    )
    plan = plan_for(load_config(config_file, {}), tmp_path, "real")
    assert "s3cret" not in " ".join(plan.command())
    env = plan.environment({"PATH": "/bin"})
    assert env["SANDBOX_MONOLITH_DB_URL"] == "mysql+pymysql://crm:s3cret@127.0.0.1:3306/crm"
    assert env["SANDBOX_SERVICES_DB_URL"] == LOCAL_POSTGRES_URL


@pytest.mark.parametrize(("url", "port"), [("https://crm.example.com", 443), ("http://h", 80)])
def test_default_ports_follow_the_scheme(tmp_path: Path, url: str, port: int) -> None:
    config_file = tmp_path / "cutover.yaml"
    config_file.write_text(
        (REPO / "cutover.yaml").read_text().replace("http://127.0.0.1:8601", url, 1)
    )
    assert plan_for(load_config(config_file, {}), tmp_path, "sqlite").monolith_port == port
