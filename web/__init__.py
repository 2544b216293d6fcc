"""The web front end: ``create_app`` builds the Flask app; only ``wsgi.py`` builds one at import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from kb.config import Settings, load_settings
from kb.embedder import Embedder
from kb.logs import configure as configure_logs
from kb.usecases.bootstrap import build
from web import inputs


def create_app(
    config: Mapping[str, Any] | Settings | None = None, embedder: Embedder | None = None
) -> Flask:
    """Return the kb web app; ``config`` overrides settings (a dict in tests), ``embedder``
    (tests) is used whatever the content (see :func:`kb.usecases.bootstrap.build`)."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json = inputs.JSONProvider(app)  # refuses a body nested too deeply before parsing it
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["kb"] = build(settings, embedder)
    configure_logs(settings.log_level, settings.log_format)

    from web import admin, api, errors, locale, metrics, openapi, pages, requests, security
    from web.versions import API_VERSION

    requests.init_app(app)
    locale.init_app(app)
    security.init_app(app)
    inputs.init_app(app)
    contract = openapi.Contract(settings)  # the request models carry these settings' limits
    openapi.init_app(app, contract)
    api_bp = api.blueprint(contract)
    app.register_blueprint(api_bp, url_prefix=f"/v{API_VERSION}", name=f"v{API_VERSION}")
    app.register_blueprint(api_bp)  # the bare paths: an alias of the latest version
    app.register_blueprint(openapi.blueprint(contract))
    app.register_blueprint(admin.blueprint(contract))
    app.register_blueprint(metrics.blueprint(contract))
    app.register_blueprint(pages.blueprint(contract))
    errors.init_app(app)
    return app
