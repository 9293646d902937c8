"""Reports rendered from a result document alone: report.html, the summary table, and the live progress line."""

from __future__ import annotations

from harness.report.html import render_report

__all__ = ["render_report"]
