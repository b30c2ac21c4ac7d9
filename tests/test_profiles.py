import pytest

from stnlib.env import PROFILE_ENV as ENV_VAR
from stnlib.env import resolve_profile


def test_notebook_value_used_without_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    p = resolve_profile("full")
    assert (p.name, p.quick, p.source) == ("full", False, "PROFILE parameter")
    assert resolve_profile("quick").quick


def test_env_overrides_notebook_value(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "quick")
    p = resolve_profile("full")
    assert p.name == "quick" and p.source == f"${ENV_VAR}"


def test_empty_env_is_ignored(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "  ")
    assert resolve_profile("full").name == "full"


@pytest.mark.parametrize("bad", ["fast", "", "FULLL", None, 3])
def test_unknown_profile_in_notebook_raises(monkeypatch, bad):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=r"unknown profile .* expected one of full, quick"):
        resolve_profile(bad)


def test_unknown_profile_in_env_raises_and_names_the_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "medium")
    with pytest.raises(ValueError, match=r"'medium' from \$STNLIB_PROFILE"):
        resolve_profile("full")


def test_choose_prefers_explicit_values(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    full, quick = resolve_profile("full"), resolve_profile("quick")
    assert full.choose(None, quick=1, full=20) == 20
    assert quick.choose(None, quick=1, full=20) == 1
    assert quick.choose(7, quick=1, full=20) == 7
    assert full.choose(0, quick=1, full=20) == 0  # 0 is a value, not "unset"
