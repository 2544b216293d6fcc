"""The API's version: paths under ``/v1`` and a ``KB-API-Version`` header on every response.

A change that breaks a client (a field removed or renamed, a meaning changed) needs a new
version; adding fields does not.
"""

API_VERSION = 1
API_BLUEPRINTS = ("api", f"v{API_VERSION}")
