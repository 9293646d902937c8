"""Faults the harness injects, and what keeps a chaos run honest.

:mod:`~harness.faults.toxics` decides what a TCP toxic does to each chunk, :mod:`~harness.faults.proxy` applies it on
a link, :mod:`~harness.faults.injectors` turns a scenario's fault window into actions on proxies and processes,
:mod:`~harness.faults.schedule` runs the windows on time, and :mod:`~harness.faults.supervisor` restarts what dies on
its own, as a process manager would.
"""
