"""gunicorn entry point: `appliance.web.wsgi:app`."""
from appliance.web import create_app, warm_templates

app = create_app()
warm_templates(app)
