"""``harness init``: a starting scenario file for a user's own app, written from what the app was seen to do.

:mod:`harness.init.observe` opens a few sockets to the app and sends messages with correlation tokens;
:mod:`harness.init.infer` decides from what came back who receives a message and where the token travels;
:mod:`harness.init.writer` writes the ``app`` scenario; :mod:`harness.init.command` is the CLI (docs/your-app.md).
"""
