"""Each bench writes its own section of docs/performance.md and leaves the others alone."""

from __future__ import annotations

from pathlib import Path


def write_section(doc: Path, heading: str, text: str) -> None:
    """Replace the section from `heading` to the next `## ` heading (or the end) with `text`;
    append it at the end when the document has no such section yet."""
    body = doc.read_text() if doc.exists() else "# Performance\n"
    section = text.rstrip("\n") + "\n"
    start = body.find(heading)
    if start < 0:
        doc.write_text(body.rstrip("\n") + "\n\n" + section)
        return
    end = body.find("\n## ", start + len(heading))
    rest = body[end + 1 :] if end >= 0 else ""
    doc.write_text(body[:start] + section + ("\n" + rest if rest else ""))
