from pathlib import Path

import pytest

from kb.config import load_settings
from kb.errors import ConfigError


def test_layers_defaults_file_env_dict(tmp_path: Path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "kb.toml").write_text('port = 9000\nproduct_name = "From file"\nmax_k = 20\n')
    env = {"KB_HOME": str(home), "KB_PORT": "9100"}
    s = load_settings({"max_k": 30}, environ=env)
    assert s.home == home
    assert s.product_name == "From file"  # file beats default
    assert s.port == 9100  # environment beats file
    assert s.max_k == 30  # dict beats environment
    assert s.chunk_words == 150  # default


def test_explicit_config_file_must_exist(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"KB_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"port": "eighty"}, "must be of type int"),
        ({"dense_weight": 1.5}, "between 0 and 1"),
        ({"nonsense": 1}, "unknown setting"),
        ({"log_level": "LOUD"}, "log_level"),
    ],
)
def test_bad_values_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides, environ={})


def test_bad_toml_is_a_clear_error(tmp_path: Path):
    (tmp_path / "kb.toml").write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"home": tmp_path}, environ={})


def test_secrets_come_only_from_the_environment(tmp_path):
    (tmp_path / "kb.toml").write_text('llm_api_key = "sk-live-123"\n')
    with pytest.raises(ConfigError, match="set it in the environment instead"):
        load_settings({"home": tmp_path}, environ={})
    (tmp_path / "kb.toml").write_text("port = 9001\n")
    settings = load_settings({"home": tmp_path}, environ={"KB_LLM_API_KEY": "sk-live-123"})
    assert settings.llm_api_key == "sk-live-123" and settings.port == 9001
