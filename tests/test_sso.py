"""Claims to users (appliance/sso.py): whatever a provider puts in a claim, the
answer is a user, or SsoRefused with a message; never another exception."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import sso
from appliance.states import Role

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.text(), inner, max_size=5), max_leaves=20)


@given(JSON)
def test_any_groups_claim_is_a_set_of_names_or_a_refusal(value):
    try:
        groups = sso.groups_of({"groups": value}, "groups")
    except sso.SsoRefused as refusal:
        assert "'groups' claim" in str(refusal)
    else:
        assert all(isinstance(g, str) for g in groups)


@given(JSON)
def test_any_name_claim_is_a_printable_name_or_a_refusal(value):
    try:
        name = sso.name_of({"preferred_username": value}, "preferred_username")
    except sso.SsoRefused as refusal:
        assert "preferred_username" in str(refusal)
    else:
        assert 1 <= len(name) <= sso.MAX_NAME_LENGTH and name.isprintable()


@pytest.mark.parametrize("claims,groups", [
    ({}, set()), ({"groups": None}, set()), ({"groups": "hc-admins"}, {"hc-admins"}),
    ({"groups": ["a", "b", "a"]}, {"a", "b"}),
])
def test_groups(claims, groups):
    assert sso.groups_of(claims, "groups") == groups


@pytest.mark.parametrize("value", [5, {"a": 1}, ["a", 1], ["x" * 256], ["g"] * 10_001])
def test_groups_that_are_not_names_are_refused(value):
    with pytest.raises(sso.SsoRefused):
        sso.groups_of({"groups": value}, "groups")


@pytest.mark.parametrize("value", [None, "", "  ", "a\x1b[31mred", "tab\there", "x" * 65, 7])
def test_names_that_cannot_name_a_user_are_refused(value):
    with pytest.raises(sso.SsoRefused):
        sso.name_of({"preferred_username": value}, "preferred_username")


def test_the_role_is_admin_only_through_an_admin_group():
    admins = frozenset({"hc-admins"})
    assert sso.role_for(frozenset({"hc-admins", "x"}), admins) is Role.ADMIN
    assert sso.role_for(frozenset({"hc-admin"}), admins) is Role.USER
    assert sso.role_for(frozenset(), frozenset()) is Role.USER
