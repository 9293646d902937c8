"""The load generator: what runs inside Locust's gevent-patched processes, and the parent side that starts them.

``generator.py`` runs in the harness's own process and starts Locust in a subprocess; every other module is imported
by the locustfile inside Locust, where gevent has patched the standard library. ``schedule``, ``envelope`` and
``user_numbers`` import neither gevent nor locust, so they are unit-tested in a plain process. Nothing here is
re-exported: importing ``harness.load.users`` patches the interpreter with gevent, which only a Locust process may do.
"""
