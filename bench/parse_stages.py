"""Where tree-sitter extraction spends its time, per language, as multiples of the bare parse.

    python bench/parse_stages.py                  # python javascript typescript java c cpp
    python bench/parse_stages.py --max-mb 4 java

Same corpora as bench/parse_bench.py. Each file goes through the steps `parse_source` takes,
timed one by one (CPU seconds, one core, grammars loaded first, tokenizer cache cold at the
start of each round, the best of --repeat rounds per step): source (choosing the grammar,
blanking C++-only regions), parse (tree-sitter), query (captures), definitions + symbols,
references, outline, span planning, chunk terms (tokenizing every chunk). Printed as
multiples of tree-sitter's bare parse of the same files in their own language's grammar
(parse_bench's denominator), so `total` is comparable with parse_bench's `ours_over_parse`
(which also counts decoding and line splitting); the extraction overhead is total minus 1.
Results also go to bench/results/parse_stages.json. It calls the tree-sitter parser's
private steps, so it follows chalicelib/parsers/treesitter.py when that changes. Nothing
here asserts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parse_bench
from tree_sitter import Parser

from chalicelib.domain import tokens
from chalicelib.parsers import PARSER_VERSION
from chalicelib.parsers import treesitter as ts
from chalicelib.parsers.layout import build_chunks, plan_spans
from chalicelib.parsers.text import split_lines
from chalicelib.parsers.ts_languages import SPECS, source_for
from chalicelib.parsers.ts_references import attach_sources, find_references

STEPS = ("source", "parse", "query", "definitions", "references", "outline", "spans", "terms")
RESULTS = parse_bench.RESULTS.with_name("parse_stages.json")


def stages(language: str, max_bytes: int, repeat: int) -> dict[str, float]:
    """CPU seconds per step over the language's corpus, and of the bare parse ("bare"): the
    best of `repeat` rounds for each."""
    files = parse_bench.corpus(language, max_bytes)
    ts.prepare(language)
    if SPECS[language].dialect is not None:
        ts.prepare(SPECS[language].dialect[0])  # type: ignore[index]
    best: dict[str, float] = {}
    for _ in range(repeat):
        spent = one_round(language, files)
        best = {step: min(best.get(step, spent[step]), spent[step]) for step in spent}
    return best


def one_round(language: str, files: list[tuple[Path, bytes]]) -> dict[str, float]:
    spent = dict.fromkeys(STEPS, 0.0)
    tokens._analyze_word.cache_clear()
    for _, data in files:
        lines = split_lines(data.decode("utf-8"))
        if not data.strip() or len(data) > ts.MAX_PARSE_BYTES:
            continue  # line windows, no tree
        marks = [time.process_time()]
        grammar, source = source_for(language, data)
        marks.append(time.process_time())
        tree = ts._parser(grammar).parse(source)
        marks.append(time.process_time())
        captures = ts._captures(grammar, tree.root_node)
        marks.append(time.process_time())
        spec = SPECS[grammar]
        definitions = ts._definitions(spec, captures)
        tuple(ts._symbols(definitions))
        marks.append(time.process_time())
        attach_sources(find_references(captures, data), definitions)
        marks.append(time.process_time())
        outline = ts._outline(spec, [d for d in definitions if d.parent is None], data)
        marks.append(time.process_time())
        spans = plan_spans(lines, outline)
        marks.append(time.process_time())
        build_chunks(lines, spans)
        marks.append(time.process_time())
        for step, (a, b) in zip(STEPS, itertools.pairwise(marks), strict=True):
            spent[step] += b - a
    bare = Parser(ts._language(language))
    start = time.process_time()
    for _, data in files:
        bare.parse(data)
    spent["bare"] = time.process_time() - start
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("languages", nargs="*")
    parser.add_argument("--max-mb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the best counts")
    args = parser.parse_args()
    languages = args.languages or ["python", "javascript", "typescript", "java", "c", "cpp"]
    print(f"{'language':>10} " + " ".join(f"{s:>11}" for s in STEPS) + "  total/parse")
    rows = []
    for language in languages:
        spent = stages(language, int(args.max_mb * 1e6), args.repeat)
        if not spent["bare"]:
            print(f"{language:>10} no corpus")
            continue
        ratios = {step: round(spent[step] / spent["bare"], 3) for step in STEPS}
        total = round(sum(ratios.values()), 2)
        rows.append({"language": language, "bare_parse_cpu_s": round(spent["bare"], 3)}
                    | ratios | {"total_over_parse": total})  # fmt: skip
        print(
            f"{language:>10} " + " ".join(f"{r:>11.2f}" for r in ratios.values()) + f"  {total:.2f}"
        )
    report = {
        "parser_version": PARSER_VERSION,
        "max_mb_per_language": args.max_mb,
        "repeat": args.repeat,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(parse_bench.ROOT)}")


if __name__ == "__main__":
    main()
