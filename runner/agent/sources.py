"""The files of a checkout that may go into a prompt: tracked, text, not vendored, not huge.

Repository content is untrusted: symlinks are never followed (one pointing at ``~/.ssh`` would put
secrets into a prompt), and only files git tracks are read.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 48_000_000  # a monorepo beyond this is ranked on its first files (sorted by path)
INSTRUCTION_FILES = ("AGENTS.md", ".github/copilot-instructions.md", "CLAUDE.md")
MAX_INSTRUCTION_CHARS = 8_000
_GIT_TIMEOUT = 60

LOCK_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "poetry.lock",
    "Pipfile.lock", "pdm.lock", "uv.lock", "Cargo.lock", "Gemfile.lock", "composer.lock", "go.sum",
    "mix.lock", "pubspec.lock", "Podfile.lock", "packages.lock.json", "flake.lock",
})
VENDOR_DIRS = frozenset({"vendor", "vendored", "_vendor", "node_modules", "third_party", "thirdparty",
                         "bower_components", "site-packages", ".venv", "venv", "dist"})
# Formats that are binary, generated or data: never worth prompt space, and often large.
SKIPPED_SUFFIXES = (
    ".min.js", ".min.css", ".map", ".lock", ".po", ".pot", ".mo", ".svg", ".png", ".jpg", ".jpeg", ".gif",
    ".ico", ".webp", ".bmp", ".pdf", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".tar", ".whl", ".egg",
    ".jar", ".class", ".so", ".dll", ".dylib", ".exe", ".o", ".a", ".pyc", ".pyo", ".woff", ".woff2", ".ttf",
    ".otf", ".eot", ".mp3", ".mp4", ".wav", ".ogg", ".avi", ".mov", ".sqlite", ".db", ".pickle", ".pkl",
    ".npy", ".npz", ".parquet", ".bin", ".dat", ".ipynb",
)


def tracked_files(root: Path) -> list[str]:
    """Paths git tracks in the working tree ``root`` (sorted, '/'-separated, relative)."""
    result = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached"],
        capture_output=True,
        timeout=_GIT_TIMEOUT,
        start_new_session=True,
        check=False,
    )
    if result.returncode != 0:
        return []
    return sorted({p for p in result.stdout.decode("utf-8", "replace").split("\0") if p})


def is_skipped_path(path: str) -> bool:
    """Lock files, vendored or built directories, minified, binary and data formats."""
    parts = path.split("/")
    name = parts[-1]
    return (
        name in LOCK_FILES
        or bool(VENDOR_DIRS.intersection(parts[:-1]))
        or name.lower().endswith(SKIPPED_SUFFIXES)
        or path in INSTRUCTION_FILES
    )


def read_text(root: Path, path: str) -> str | None:
    """The file's text, or None for symlinks, non-regular, oversized, binary or non-UTF-8 files."""
    full = root / path
    try:
        info = os.lstat(full)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        data = full.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _looks_minified(text) else text


def source_files(root: Path) -> dict[str, str]:
    """{path: text} of every tracked file worth ranking."""
    files: dict[str, str] = {}
    total = 0
    for path in tracked_files(root):
        if is_skipped_path(path):
            continue
        text = read_text(root, path)
        if text is not None:
            files[path] = text
            total += len(text)
            if total > MAX_TOTAL_BYTES:
                break
    return files


def repo_instructions(root: Path) -> str | None:
    """AGENTS.md, .github/copilot-instructions.md and CLAUDE.md, those present, each capped in size."""
    sections: list[str] = []
    for path in INSTRUCTION_FILES:
        text = read_text(root, path)
        if text and text.strip():
            if len(text) > MAX_INSTRUCTION_CHARS:
                text = text[:MAX_INSTRUCTION_CHARS] + "\n... (truncated)"
            sections.append(f"# {path}\n\n{text.strip()}")
    return "\n\n".join(sections) if sections else None


def _looks_minified(text: str) -> bool:
    # Minified bundles and generated data have very long lines; real source rarely does.
    if len(text) < 5_000:
        return False
    lines = text.count("\n") + 1
    return len(text) / lines > 500
