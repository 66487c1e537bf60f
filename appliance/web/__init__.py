"""The web UI: an app factory with one blueprint per area.

Pages: index, tests, test, sites and the robot, templates, the work-area browser
(/testdirs/), login and API tokens, a stress test in three clicks, test actions,
the JSON API (/api/v1, with its OpenAPI document), /healthz, /readyz, /metrics.
A blueprint joins the navigation by adding (endpoint, label) to NAVIGATION.
"""
from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import peewee as pw
from flask import Flask, current_app, jsonify, request
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from appliance import config as config_module
from appliance import sessionkey, timetext
from appliance import states as states_module
from appliance.db import database, open_database
from appliance.errors import BadInput
from appliance.knobs import KNOBS
from appliance.limits import MAX_KNOB
from appliance.web import bodies, headers
from appliance.web.plotcache import PlotCache

NAVIGATION = [("pages.test_list", "Tests"), ("sites.robot_page", "Robot"),
              ("sites.templates", "Templates"), ("compare.compare_page", "Compare"),
              ("compare.rankings_page", "Rankings"),
              ("testdirs.browse", "Work areas")]


def warm_templates(app: Flask) -> int:
    """Compile every page template now (gunicorn's entry point does, once per worker):
    otherwise the first visitor of each page waits for its compilation, 100-200 ms on
    this machine for the test page. Returns how many were compiled."""
    names = [n for n in app.jinja_env.list_templates() if n.endswith(".html")]
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)


def percent_text(fraction: float | None) -> str:
    """A fraction as the pages show it: 0.9512 -> "95.1%", None -> "-"."""
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def create_app(settings: config_module.Config | None = None) -> Flask:
    settings = settings or config_module.load()
    app = Flask(__name__)
    app.config["HC"] = settings
    # Outside development a weak or missing key stops the start (sessionkey.KeyRefused).
    app.config["SECRET_KEY"] = sessionkey.signing_key(settings.secret_key, settings.dev)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.web_secure_cookies,
                      SESSION_COOKIE_NAME="hc_session")
    if settings.web_proxies:
        # Behind a reverse proxy the peer is the proxy: the client's address (login limit,
        # session list) and scheme (secure cookies, redirects) come from its headers.
        hops = settings.web_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    open_database(settings.database_url, wait=settings.db_wait)
    database.close()

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()

    _add_filters(app)
    app.jinja_env.globals["nav"] = NAVIGATION
    from appliance.web import (
        actions,
        api,
        api_write,
        auth,
        compare_page,
        credentials_page,
        oidc,
        pages,
        plot_numbers,
        probes,
        site_evolution,
        sites,
        testdirs,
    )
    app.jinja_env.globals.update(current_user=auth.current_user, csrf_token=auth.csrf_token,
                                 csrf_field=_csrf_field, load_knobs=KNOBS, max_knob=MAX_KNOB,
                                 states=states_module)
    for module in (auth, oidc, probes, pages, actions, sites, testdirs, api, api_write,
                   credentials_page, compare_page, site_evolution, plot_numbers):
        app.register_blueprint(module.blueprint)
    oidc.init_app(app, settings)
    app.register_error_handler(HTTPException, _json_errors_for_api)
    for error in (pw.OperationalError, pw.InterfaceError):
        app.register_error_handler(error, _database_unavailable)
    app.register_error_handler(BadInput, _bad_input)
    app.extensions["hc_plots"] = PlotCache()
    headers.install(app)
    bodies.install(app)
    return app


def _bad_input(problem: BadInput):
    """Bad input that a view did not word itself is still the client's error: 400."""
    return _json_errors_for_api(BadRequest(description=str(problem)))


def _json_errors_for_api(problem: HTTPException):
    """The API answers errors in JSON ({"error": message}); pages keep Flask's."""
    if request.path.startswith("/api/"):
        # Keep the error's own headers (a 405's Allow), not its HTML content type.
        headers = [(k, v) for k, v in problem.get_headers() if k.lower() != "content-type"]
        return jsonify(error=problem.description), problem.code, headers
    return problem


def _database_unavailable(error: Exception):
    """The database is away (an outage, a restart): 503, which says "try again",
    never a 500 with a traceback."""
    current_app.logger.warning("database unavailable: %s", str(error).strip()[:300])
    with contextlib.suppress(Exception):
        database.close()
    return jsonify(error="the database is unavailable; try again shortly"), 503


def _csrf_field() -> Markup:
    from appliance.web.auth import csrf_token
    return Markup(f'<input type="hidden" name="csrf_token" value="{csrf_token()}">')


def _add_filters(app: Flask) -> None:
    @app.template_filter("when")
    def when(timestamp):
        return timetext.utc_text(timestamp)

    @app.template_filter("span")
    def span(seconds):
        """3600 -> '1h', 5400 -> '1h 30m', 90 -> '1m 30s'."""
        if seconds is None:
            return "-"
        left, parts = round(seconds), []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if left >= size or (unit == "s" and not parts):
                parts.append(f"{left // size}{unit}")
                left %= size
        return " ".join(parts[:2])

    @app.template_filter("bytes")
    def size(number):
        from appliance.disk import human
        return human(number or 0)

    app.add_template_filter(percent_text, "percent")

    @app.template_filter("number")
    def number(value):
        return "-" if value is None else f"{value:.3g}"

    @app.template_filter("query")
    def query(args, **changes):
        """The current query string with some parameters changed (for paging links)."""
        merged = {k: v for k, v in args.items() if v} | {k: str(v) for k, v in changes.items()}
        return urlencode(merged)
