"""The local web server: a FastAPI app over :class:`gitsync.service.Service`.

Nothing is imported here, so that ``gitsync web`` (which needs only :mod:`.session`) and a
daemon started with ``--no-web`` never load the web framework.
"""
