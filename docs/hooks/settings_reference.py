"""MkDocs hook: the settings reference page is made from FileStream/config.py's VARIABLES (one source).

The page docs/settings.md holds the marker below; at build time it becomes the table of every
variable with its default and what it is for, exactly as the code defines them.
"""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "<!-- settings-table -->"
REPO = Path(__file__).resolve().parents[2]


def settings_table() -> str:
    """A markdown table of every setting, in the code's order."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from FileStream.config import VARIABLES

    rows = ["| Variable | Default | What it is for |", "|---|---|---|"]
    for name, default, purpose in VARIABLES:
        shown = f"`{default}`" if default else "—"
        rows.append(f"| `{name}` | {shown} | {purpose.replace('|', '&#124;')} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' hook signature
    if MARKER in markdown:
        return markdown.replace(MARKER, settings_table())
    return markdown
