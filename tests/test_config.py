"""Settings: defaults, units, and clear refusals of bad values."""
from __future__ import annotations

import pytest

from appliance import config
from appliance.config import ConfigError, load, parse_duration


def test_defaults_are_derived_from_the_data_dir(tmp_path):
    settings = load({"HC_DATA_DIR": str(tmp_path)})
    assert settings.role == "all"
    assert settings.work_dir == str(tmp_path / "work")
    assert settings.database_url == f"sqlite:///{tmp_path}/hc.sqlite"
    assert settings.heartbeat_interval == 5.0 and settings.submit_batch == 500


@pytest.mark.parametrize("text,seconds", [("5", 5), ("2.5", 2.5), ("250ms", 0.25), ("5s", 5),
                                          ("2m", 120), ("1h", 3600), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("environ,message", [
    ({"HC_ROLE": "web2"}, "HC_ROLE: 'web2' is not one of: all, web, server, submit"),
    ({"HC_HEARTBEAT_INTERVAL": "soon"}, "HC_HEARTBEAT_INTERVAL: 'soon' is not a duration"),
    ({"HC_HEARTBEAT_INTERVAL": "0"}, "must be more than zero"),
    ({"HC_SUBMIT_BATCH": "many"}, "HC_SUBMIT_BATCH: 'many' is not a whole number"),
    ({"HC_DATABASE_URL": "mysql://x"}, "must start with sqlite:/// or postgresql://"),
    ({"HC_HEARTBEAT_INTERVAL": "60"}, "HC_AGENT_DEAD_AFTER must be longer"),
    ({"HC_HEARTBEAT_INTERVL": "5"}, "unknown setting (did you mean HC_HEARTBEAT_INTERVAL?)"),
    ({"HC_DEV": "maybe"}, "is not a yes/no value"),
    ({"HC_WEB_LOCAL_LOGIN": "0"}, "needs single sign-on (HC_OIDC_ISSUER)"),
    ({"HC_WEB_PUBLIC_URL": "hc.example.org"}, "HC_WEB_PUBLIC_URL: give the address"),
    ({"HC_OIDC_ISSUER": "http://sso.example.org/realm"}, "give the provider's https:// URL"),
    ({"HC_OIDC_ISSUER": "ftp://127.0.0.1/"}, "give the provider's https:// URL"),
    ({"HC_OIDC_ISSUER": "https://sso.example.org"}, "HC_OIDC_CLIENT_ID: required"),
    ({"HC_OIDC_ISSUER": "https://sso.example.org", "HC_OIDC_CLIENT_ID": "hc",
      "HC_OIDC_SCOPES": "profile email"}, "HC_OIDC_SCOPES: must include openid"),
    ({"HC_OIDC_ISSUER": "https://sso.example.org", "HC_OIDC_CLIENT_ID": "hc",
      "HC_OIDC_GROUPS_CLAIM": " "}, "HC_OIDC_GROUPS_CLAIM: give the name of a claim"),
])
def test_bad_values_are_refused_with_a_fix(environ, message):
    with pytest.raises(ConfigError) as error:
        load(environ)
    assert message in str(error.value)


def test_settings_table_lists_every_variable_and_readme_carries_it():
    table = config.settings_table()
    with open("README.md") as handle:
        readme = handle.read()
    for setting in config.SETTINGS:
        assert f"`{setting.env_name}`" in table
        assert f"`{setting.env_name}`" in readme, f"{setting.env_name} missing from README"


def test_single_sign_on_settings(tmp_path):
    settings = load({"HC_DATA_DIR": str(tmp_path), "HC_OIDC_ISSUER": "https://sso.example.org/",
                     "HC_OIDC_CLIENT_ID": "hc", "HC_WEB_LOCAL_LOGIN": "0",
                     "HC_OIDC_ADMIN_GROUPS": " hc-admins,, hc-operators "})
    assert settings.oidc_enabled and settings.oidc_issuer == "https://sso.example.org"
    assert settings.oidc_admin_group_set == {"hc-admins", "hc-operators"}
    assert not settings.web_local_login
    assert not load({"HC_DATA_DIR": str(tmp_path)}).oidc_enabled
