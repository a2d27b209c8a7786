import pytest

import pluma
from pluma.memory import parse_root


def test_unknown_s3_option_is_refused_with_the_allowed_names():
    with pytest.raises(pluma.InvalidInputError, match="unknown storage option.*endpoint;.*endpoint_url"):
        pluma.open("s3://bucket/prefix", storage_options={"endpoint": "http://x"}, user="a")


def test_s3_option_types_are_checked():
    with pytest.raises(pluma.InvalidInputError, match="allow_http must be true or false"):
        parse_root("s3://b/p", {"allow_http": "yes"})


def test_local_workspace_takes_no_options(tmp_path):
    with pytest.raises(pluma.InvalidInputError, match="object stores only"):
        pluma.open(tmp_path, storage_options={"region": "x"}, user="a")


def test_s3_uri_needs_a_bucket_and_schemes_are_checked():
    with pytest.raises(pluma.InvalidInputError, match="names no bucket"):
        parse_root("s3:///prefix")
    with pytest.raises(pluma.InvalidInputError, match="unsupported workspace URI scheme 'gs'"):
        parse_root("gs://b/p")


def test_default_location_is_pluma_home_then_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUMA_HOME", str(tmp_path / "home"))
    assert parse_root(None).location == str(tmp_path / "home")
    monkeypatch.delenv("PLUMA_HOME")
    monkeypatch.chdir(tmp_path)
    assert parse_root(None).location == str(tmp_path / "pluma-home")


def test_default_open_uses_pluma_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUMA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PLUMA_USER", "boss")
    ws = pluma.open()
    assert ws.user == "boss" and ws.is_admin
    assert (tmp_path / "home" / "enclaves" / "default").is_dir()
