"""Faults the harness injects: TCP toxics through a proxy of its own (:mod:`harness.faults.proxy`), decided by
:mod:`harness.faults.toxics`."""
