#!/usr/bin/env python3
"""Assemble queries.jsonl from the hand-written sources in src/<name>.txt.

Source format, one query per line:   <A|B|S> | <query text> | <target> [<target> ...]
(A = architecture, B = behaviour, S = symbol; targets space separated, most
relevant first; '#' lines are comments).  Short prefixes in targets are
expanded per repository (PREFIXES below).

Held-out rows: for every (repository, category) cell, exactly a third of its
rows (the count of each cell is a multiple of 3) is drawn with
random.Random(f"{SEED}:{name}:{category}").sample, so the choice is fixed and
does not move when another cell changes.

Standard library only.  Usage:  python build.py   (rewrites queries.jsonl)
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261205
CATEGORY = {"A": "architecture", "B": "behaviour", "S": "symbol"}
PREFIXES = {
    "gson": {"~/": "gson/src/main/java/com/google/gson/"},
    "vite": {"~/": "packages/vite/src/node/", "^/": "packages/vite/src/"},
    "polly": {"~/": "src/Polly.Core/"},
    "okhttp": {"~/": "okhttp/src/commonJvmAndroid/kotlin/okhttp3/"},
}


def expand(name, target):
    for short, long in PREFIXES.get(name, {}).items():
        if target.startswith(short):
            return long + target[len(short) :]
    return target


def main():
    repos = json.loads((HERE / "repos.json").read_text())
    if repos["seed"] != SEED:
        raise SystemExit(f"repos.json seed {repos['seed']} != build.py SEED {SEED}")
    rows = []
    for repo in repos["repos"]:
        name = repo["name"]
        src = HERE / "src" / f"{name}.txt"
        parsed = []
        for lineno, line in enumerate(src.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            if len(parts) != 3 or parts[0] not in CATEGORY:
                raise SystemExit(f"{src}:{lineno}: bad line: {line!r}")
            cat, query, targets = parts
            parsed.append((CATEGORY[cat], query, [expand(name, t) for t in targets.split()]))
        held = set()
        for cat in CATEGORY.values():
            idx = [i for i, p in enumerate(parsed) if p[0] == cat]
            if len(idx) % 3:
                raise SystemExit(f"{name}/{cat}: {len(idx)} rows, not a multiple of 3")
            rng = random.Random(f"{SEED}:{name}:{cat}")
            held.update(rng.sample(idx, len(idx) // 3))
        for i, (cat, query, targets) in enumerate(parsed):
            rows.append(
                {
                    "id": f"{name}-{i:03d}",
                    "repo": repo["github"],
                    "name": name,
                    "head": repo["head"],
                    "language": repo["language"],
                    "category": cat,
                    "query": query,
                    "targets": targets,
                    "held_out": i in held,
                }
            )
    with open(HERE / "queries.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to queries.jsonl")


if __name__ == "__main__":
    main()
