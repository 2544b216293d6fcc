"""The WSGI entry point: ``gunicorn wsgi:app``. Settings come from the environment."""

from web import create_app

app = create_app()
