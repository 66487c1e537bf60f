"""The web UI: an app factory with one blueprint per area."""
from __future__ import annotations

from flask import Flask

from appliance import config as config_module
from appliance.db import database, open_database


def create_app(settings: config_module.Config | None = None) -> Flask:
    settings = settings or config_module.load()
    app = Flask(__name__)
    app.config["HC"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or "development-only"
    open_database(settings.database_url, wait=settings.db_wait)
    database.close()

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()

    from appliance.web import health, pages
    app.register_blueprint(health.blueprint)
    app.register_blueprint(pages.blueprint)
    return app
