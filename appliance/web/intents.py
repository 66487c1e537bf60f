"""What the web and the API let people do to tests, and who may: one place for both.

Creating a test is appliance.creation's (shared with the CLI and `hc run`);
here are the permissions around it and the actions on existing tests.
"""
from __future__ import annotations

from collections.abc import Mapping

from appliance import accounts, creation, lifecycle, retention
from appliance.errors import FieldErrors
from appliance.knobs import LOAD_KNOBS
from appliance.models import Test, User
from appliance.states import TEST_FINAL, Category, TestState


class Forbidden(Exception):
    """The user may not do this; the message says who may."""


def parse_test_request(data: Mapping, user: User) -> creation.TestRequest:
    return creation.parse_test_request(data, admin=accounts.is_admin(user))


def create(request: creation.TestRequest, user: User) -> Test:
    return creation.create(request, owner=user.name)


# Who may do what to an existing test. Anyone logged in may clone; the owner
# and admins may send, cancel and change the load; only admins approve.
def may_change(user: User | None, test: Test) -> bool:
    return user is not None and (accounts.is_admin(user) or test.owner == user.name)


def allowed_actions(user: User | None, test: Test) -> list[str]:
    """The actions to offer `user` on `test` (those that its state allows, too)."""
    if user is None:
        return []
    state = TestState(test.state)
    actions = []
    if may_change(user, test) and state is TestState.DRAFT:
        actions.append("send-for-approval")
    if accounts.is_admin(user) and state is TestState.UNAPPROVED:
        actions.append("approve")
    if may_change(user, test) and state not in TEST_FINAL:
        actions.append("cancel")
    actions.append("clone")
    if may_change(user, test) and test.category == Category.STRESS.value:
        actions.append("unkeep" if test.keep else "keep")  # against retention
    return actions


def act(user: User, test: Test, action: str, now: float | None = None) -> Test:
    """Do `action` to `test` as `user`: Forbidden, TransitionRefused or the new test."""
    if action == "clone":
        refusal = creation.clone_refusal(test, accounts.is_admin(user))
        if refusal:
            raise Forbidden(refusal)
        return lifecycle.clone_test(test, user.name, start_at=now)
    if action == "approve" and not accounts.is_admin(user):
        raise Forbidden("only an admin can approve a test")
    if action in ("send-for-approval", "cancel") and not may_change(user, test):
        raise Forbidden(f"only the test's owner ({test.owner}) or an admin can {action} it")
    if action in ("keep", "unkeep"):
        return _keep(user, test, action == "keep")
    if action == "send-for-approval":
        lifecycle.send_for_approval(test.id, user.name)
    elif action == "approve":
        lifecycle.approve(test.id, user.name)
    elif action == "cancel":
        lifecycle.cancel(test.id, user.name)
    else:
        raise AssertionError(f"unknown action {action!r}")  # the routes allow only the above
    return Test.get_by_id(test.id)


def _keep(user: User, test: Test, keep: bool) -> Test:
    """Pin a stress test against retention (or unpin it): its owner or an admin."""
    if not may_change(user, test):
        raise Forbidden(f"only the test's owner ({test.owner}) or an admin can keep it")
    try:
        return retention.set_keep(test.id, keep, user.name, admin=True)
    except ValueError as refusal:
        raise lifecycle.TransitionRefused(str(refusal)) from None


def change_load(user: User, test: Test, site_name: str, knobs: Mapping) -> list[str]:
    """Change a site's knobs in a test (its owner or an admin): FieldErrors on bad values."""
    if not may_change(user, test):
        raise Forbidden(f"only the test's owner ({test.owner}) or an admin can change its load")
    errors: dict[str, str] = {}
    load = creation.parse_load(knobs, errors, prefix="")
    if not load and not errors:
        errors["load"] = "give at least one of " + ", ".join(LOAD_KNOBS)
    if errors:
        raise FieldErrors(errors)
    return lifecycle.set_load(test.id, site_name, user.name, **load)
