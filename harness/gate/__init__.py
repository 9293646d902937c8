"""``harness gate``: a CI regression gate measuring baseline and candidate in one job, interleaved.

``statistic`` and ``decision`` are pure (pairs in, verdicts out); the rest runs trials and writes the gate's files.
"""
