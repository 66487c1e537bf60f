"""Liveness and readiness for load balancers and container health checks."""
from flask import Blueprint, jsonify

from appliance.db import database

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    try:
        database.execute_sql("SELECT 1")
    except Exception as error:  # any failure means not ready
        return jsonify(status="unavailable", error=str(error)), 503
    return jsonify(status="ok")
