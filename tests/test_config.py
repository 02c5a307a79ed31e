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


@pytest.mark.parametrize("argv, env, fragment", [
    (("--bcrypt-rounds", "9"), {}, "bcrypt_rounds"),
    ((), {"EVEDGE_BCRYPT_ROUNDS": "4"}, "bcrypt_rounds"),
    (("--bcrypt-rounds", "17"), {}, "bcrypt_rounds"),
    (("--jwt-secret", "x" * 31), {}, "jwt_secret"),
    ((), {"EVEDGE_JWT_SECRET": "é" * 15}, "jwt_secret"),  # 30 bytes in UTF-8
    (("--allowed-hosts", "http://box"), {}, "allowed_hosts"),
    (("--allowed-hosts", "box:8000"), {}, "allowed_hosts"),
    (("--max-json-body-bytes", "10"), {}, "max_json_body_bytes"),
    (("--max-site-model-bytes", str(4 * 1024 * 1024 + 1)), {}, "max_site_model_bytes"),
    (("--max-site-model-bytes", "1000"), {}, "max_site_model_bytes"),
    (("--registration-role", "admin"), {}, "registration_role"),
])
def test_weak_secrets_and_bad_web_settings_are_configuration_errors(argv, env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(parse(*argv), environ=env)


def test_secure_defaults():
    config = load_config(parse(), environ={})
    assert config.registration == "closed" and config.registration_role == "viewer"
    assert config.bcrypt_rounds == 12 and config.max_json_body_bytes == 65536
    assert load_config(parse("--jwt-secret", "x" * 32), environ={}).jwt_secret == "x" * 32
    hosts = load_config(parse("--allowed-hosts", " Box.Depot.Example. , .site.example,"),
                        environ={})
    assert hosts.allowed_host_names == ("box.depot.example", ".site.example")


def test_cheap_bcrypt_is_for_the_tests_only(tmp_path):
    """The test suite's cost-4 switch is a private constructor argument: no file, variable
    or option reaches it."""
    assert Config(bcrypt_rounds=4, _cheap_bcrypt_for_tests=True).bcrypt_rounds == 4
    assert "_cheap_bcrypt_for_tests" not in settings_help()
    file = tmp_path / "evedge.toml"
    file.write_text("_cheap_bcrypt_for_tests = true\nbcrypt_rounds = 4\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(parse("--config", str(file)), environ={})
    with pytest.raises(ConfigError, match="bcrypt_rounds"):
        load_config(parse("--bcrypt-rounds", "4"), environ={
            "EVEDGE__CHEAP_BCRYPT_FOR_TESTS": "1", "EVEDGE_CHEAP_BCRYPT_FOR_TESTS": "1"})
    with pytest.raises(SystemExit):
        parse("--cheap-bcrypt-for-tests", "1")
