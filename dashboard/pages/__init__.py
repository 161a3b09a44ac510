"""The dashboard's pages; each module has ``layout(**query)`` and ``register(app)``."""
