"""Configuration: precedence, validation, and every setting documented."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from evedge.config import Config, ConfigError, add_arguments, load_config, settings_help

ROOT = Path(__file__).resolve().parent.parent


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_match_the_contract():
    config = load_config(parse(), environ={})
    assert config.port == 8000 and config.data_dir == Path("var")
    assert config.sqlite_synchronous == "full" and config.admission == "accept"


def test_precedence_file_then_env_then_cli(tmp_path):
    file = tmp_path / "evedge.toml"
    file.write_text('port = 9001\nheartbeat_interval = 60\nadmission = "pending"\n')
    env = {"EVEDGE_PORT": "9002", "EVEDGE_ADMISSION": "reject"}
    config = load_config(parse("--config", str(file), "--port", "9003"), environ=env)
    assert config.port == 9003            # CLI beats env
    assert config.admission == "reject"   # env beats file
    assert config.heartbeat_interval == 60  # file beats default


def test_config_file_from_environment(tmp_path):
    file = tmp_path / "evedge.toml"
    file.write_text("allow_missing_subprotocol = false\n")
    config = load_config(parse(), environ={"EVEDGE_CONFIG": str(file)})
    assert config.allow_missing_subprotocol is False


@pytest.mark.parametrize("argv, env, fragment", [
    (("--port", "0"), {}, "port"),
    (("--port", "eighty"), {}, "port"),
    ((), {"EVEDGE_ADMISSION": "maybe"}, "admission"),
    ((), {"EVEDGE_ALLOW_MISSING_SUBPROTOCOL": "perhaps"}, "allow_missing_subprotocol"),
    (("--ws-ping-timeout", "60", "--ws-ping-interval", "30"), {}, "ws_ping_timeout"),
])
def test_bad_values_name_the_setting(argv, env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(parse(*argv), environ=env)


def test_unknown_setting_in_file_is_refused(tmp_path):
    file = tmp_path / "evedge.toml"
    file.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(parse("--config", str(file)), environ={})


def test_every_setting_has_help_and_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, help_text in settings_help().items():
        assert len(help_text) > 10, name
        assert f"`{name}`" in readme, f"setting {name} is missing from README.md"


def test_systemd_unit_only_sets_real_settings():
    unit = (ROOT / "systemd" / "evedge.service").read_text()
    names = set(settings_help()) | {"config"}
    for variable in re.findall(r"EVEDGE_([A-Z_]+)=", unit):
        assert variable.lower() in names, variable


def test_config_is_frozen():
    config = Config()
    with pytest.raises(Exception):
        config.port = 1  # type: ignore[misc]
