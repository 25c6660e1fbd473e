"""Local fake servers for the platforms the plugin calls (CRMs, Meta, the social networks).

Each fake is a :class:`~flask_shoppable._fakes.server.FakeServer`: a real HTTP server on
127.0.0.1 that checks what the real API checks (auth, paths, payload shapes), keeps what
it received, and can be told to fail. :mod:`flask_shoppable.testing` exports them.
"""
