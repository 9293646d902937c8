"""Measurements: HDR latency recorders, delivery accounting, the per-process collector and its exact merge, server
resource sampling, channel-layer back-pressure from server logs, and the environment fingerprint.

Pure and gevent-free: the generator's processes use these modules, and so do the results, without either depending
on the other.
"""
