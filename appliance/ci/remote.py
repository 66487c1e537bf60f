"""`hc run --url`: a running instance, driven through its JSON API with a token.

The same operations as the throwaway sources. A run file's sites and template
are put with admin rights; a template name instead uses what the instance has.
A token of a plain user creates the test and waits for an admin to approve it.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from appliance.ci import results
from appliance.ci.sources import InfrastructureError
from appliance.documents import SpecError

TIMEOUT = 30.0  # s per request


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the instance's origin: urllib would carry
    the bearer token along to wherever a redirect points."""

    def redirect_request(self, request, reply, code, message, headers, new_url):
        if _origin(new_url) != _origin(request.full_url):
            raise urllib.error.HTTPError(new_url, code, f"redirect to another origin refused: "
                                         f"{new_url}", headers, reply)
        return super().redirect_request(request, reply, code, message, headers, new_url)


def _origin(url: str) -> tuple:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


class RemoteSource:
    def __init__(self, url: str, token: str, overrides: dict | None = None):
        if not url.startswith(("http://", "https://")):
            raise SpecError(f"--url: {url!r} must start with http:// or https://")
        if not token:
            raise SpecError("--url needs an API token in HC_TOKEN (make one on the instance's "
                            "account page or with `hc token add USER`)")
        self.base = url.rstrip("/")
        self.token = token
        self.overrides = overrides or {}  # duration, image: for a template named, not a file
        self.user = {}

    def __enter__(self) -> RemoteSource:
        self.user = self._call("GET", "/whoami")["user"] or {}
        if not self.user:
            raise InfrastructureError(f"{self.base} does not accept the token in HC_TOKEN")
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> str:
        return f"{self.base} (as {self.user.get('name')})"

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                     **({"Content-Type": "application/json"} if data else {})})
        try:
            with _OPENER.open(request, timeout=TIMEOUT) as reply:
                return json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as error:
            message = _error_message(error)
            if error.code in (400, 404, 409):
                raise SpecError(message) from None
            raise InfrastructureError(f"{method} {path}: HTTP {error.code}: {message}") from None
        except (urllib.error.URLError, OSError) as error:
            raise InfrastructureError(f"cannot reach {self.base}: {error}") from None

    def is_admin(self) -> bool:
        return self.user.get("role") == "admin"

    def define_site(self, site: dict) -> None:
        body = {k: site[k] for k in ("backend", "settings", "cloud") if k in site}
        self._call("PUT", f"/sites/{site['name']}", body)

    def add_template(self, document: dict) -> str:
        self._call("PUT", f"/templates/{document['name']}", document)
        return document["name"]

    def template_duration(self, name: str) -> float:
        """The instance's duration of a template; SpecError when it has none of that name."""
        for template in self._call("GET", "/templates")["templates"]:
            if template["name"] == name:
                return float(template["duration"])
        raise SpecError(f"{self.base} has no template named {name!r}")

    def create_test(self, template_name: str, sites: list[str] | None) -> tuple[int, list[str]]:
        body = {"template": template_name, "approve": self.is_admin(), **self.overrides}
        if sites:
            body["sites"] = sites
        test = self._call("POST", "/tests", body)
        detail = self._call("GET", f"/tests/{test['id']}")
        return test["id"], sorted(detail["sites"])

    def approve(self, test_id: int) -> None:
        if not self.is_admin():
            print(f"test {test_id} waits for an admin's approval: {self.base}/tests/{test_id}",
                  flush=True)

    def progress(self, test_id: int) -> tuple[str, dict]:
        detail = self._call("GET", f"/tests/{test_id}")
        counts = {k: v for k, v in detail["summary"].items() if k.startswith("jobs_")}
        return detail["state"], counts

    def result(self, test_id: int) -> results.RunResult:
        return results.from_dict(self._call("GET", f"/tests/{test_id}/export"))

    def cancel(self, test_id: int, reason: str) -> None:
        self._call("POST", f"/tests/{test_id}/cancel")


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        return json.loads(error.read()).get("error", "")
    except (ValueError, AttributeError):
        return error.reason
