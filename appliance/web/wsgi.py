"""gunicorn entry point: `appliance.web.wsgi:app`."""
from appliance.web import create_app

app = create_app()
