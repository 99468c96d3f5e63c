"""Where tree-sitter extraction spends its time, per language, as multiples of the bare parse.

    python bench/parse_stages.py                  # python javascript typescript java c cpp
    python bench/parse_stages.py --max-mb 4 java

Same corpora as bench/parse_bench.py. Each file goes through the steps `parse_source` takes,
timed one by one (CPU seconds, one core, grammars loaded first, tokenizer cache cold at the
start of each language): parse (tree-sitter), query (captures), definitions + symbols,
references, outline, span planning, chunk terms (tokenizing every chunk). Printed as
multiples of the parse; the extraction overhead is their sum minus 1. It calls the tree-sitter
parser's private steps, so it follows chalicelib/parsers/treesitter.py when that changes.
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parse_bench
from tree_sitter import QueryCursor

from chalicelib.domain import tokens
from chalicelib.parsers import treesitter as ts
from chalicelib.parsers.text import split_lines
from chalicelib.parsers.ts_languages import SPECS

STEPS = ("parse", "query", "definitions", "references", "outline", "spans", "terms")


def stages(language: str, max_bytes: int) -> dict[str, float]:
    files = parse_bench.corpus(language, max_bytes)
    ts.prepare(language)
    if SPECS[language].dialect is not None:
        ts.prepare(SPECS[language].dialect[0])  # type: ignore[index]
    spent = dict.fromkeys(STEPS, 0.0)
    tokens._analyze_word.cache_clear()
    for _, data in files:
        text = data.decode("utf-8")
        lines = split_lines(text)
        marks = [time.process_time()]
        parsed = ts._parse(language, data)
        marks.append(time.process_time())
        if parsed is None:
            continue
        grammar, tree = parsed
        captures = QueryCursor(ts._query(grammar)).captures(tree.root_node)
        marks.append(time.process_time())
        spec = SPECS[grammar]
        definitions = ts._definitions(spec, captures)
        tuple(ts._symbols(definitions))
        marks.append(time.process_time())
        ts.attach_sources(ts.find_references(captures, data), definitions)
        marks.append(time.process_time())
        outline = ts._outline(spec, [d for d in definitions if d.parent is None], data)
        marks.append(time.process_time())
        spans = ts.plan_spans(lines, outline)
        marks.append(time.process_time())
        ts.build_chunks(lines, spans)
        marks.append(time.process_time())
        for step, (a, b) in zip(STEPS, itertools.pairwise(marks), strict=True):
            spent[step] += b - a
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("languages", nargs="*")
    parser.add_argument("--max-mb", type=float, default=2.0)
    args = parser.parse_args()
    languages = args.languages or ["python", "javascript", "typescript", "java", "c", "cpp"]
    print(f"{'language':>10} " + " ".join(f"{s:>11}" for s in STEPS) + "  total/parse")
    for language in languages:
        spent = stages(language, int(args.max_mb * 1e6))
        if not spent["parse"]:
            print(f"{language:>10} no corpus")
            continue
        ratios = [spent[s] / spent["parse"] for s in STEPS]
        print(f"{language:>10} " + " ".join(f"{r:>11.2f}" for r in ratios) + f"  {sum(ratios):.2f}")


if __name__ == "__main__":
    main()
