#!/usr/bin/env python3
"""Picks a small committed corpus: the N inputs that together cover the most
edges, chosen greedily from a libFuzzer merge control file.

    TARGET=fuzz/target/x86_64-unknown-linux-gnu/release/frame_decoder
    $TARGET -merge=1 -use_counters=0 -merge_control_file=/tmp/ctl /tmp/empty-dir MINIMISED_DIR
    python3 fuzz/select_corpus.py /tmp/ctl 60 fuzz/corpus/frame_decoder
"""

import os
import shutil
import sys


def main() -> None:
    control, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lines = open(control).read().split("\n")
    files = lines[2 : 2 + int(lines[0])]
    edges: dict[int, set[str]] = {}
    for line in lines:
        if line.startswith("COV "):
            index, *covered = line.split()[1:]
            edges.setdefault(int(index), set()).update(covered)
    everything = set().union(*edges.values())
    covered: set[str] = set()
    chosen: list[int] = []
    while len(chosen) < count:
        best = max(edges, key=lambda i: (len(edges[i] - covered), -os.path.getsize(files[i])))
        if not edges[best] - covered:
            break
        chosen.append(best)
        covered |= edges[best]
    os.makedirs(out, exist_ok=True)
    for i in chosen:
        shutil.copy(files[i], os.path.join(out, os.path.basename(files[i])))
    size = sum(os.path.getsize(files[i]) for i in chosen)
    print(f"{len(chosen)} inputs ({size} bytes) cover {len(covered)} of {len(everything)} edges")


if __name__ == "__main__":
    main()
