from __future__ import annotations
def rank_files(files, instruction):
    return sorted(files)
