"""Reports of a stored run: self-contained HTML, a Markdown summary and JSON.

Examples:
    >>> from wince.report import FORMATS
    >>> FORMATS
    ('html', 'markdown', 'json')
"""

from __future__ import annotations

from wince.report.build import FORMATS, Report, build_report, default_path, write_report

__all__ = ["FORMATS", "Report", "build_report", "default_path", "write_report"]
