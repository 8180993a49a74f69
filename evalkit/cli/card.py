"""`card emit` and `card import`: model-card metadata from results, and results from a card."""

from __future__ import annotations

import sys
from pathlib import Path

from evalkit.cli.options import add_suite
from evalkit.fileio import write_text_atomic


def add_parsers(sub) -> None:
    card = sub.add_parser(
        "card",
        help="emit, update or import a model card's model-index metadata",
        description="C-MTEB model cards carry their scores in the README's `model-index` front matter. `card emit` "
        "writes it from results (and --update puts it in a README); `card import` turns a card into result JSON.",
    )
    actions = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "emit",
        help="write the model-index YAML of a model's results in the C-MTEB card layout",
        description="Read one model revision's results (any mteb result format, or a model card) and write the "
        "model card's `model-index` YAML. Without --output or --update it is printed. --update replaces only the "
        "model-index of a README's front matter; every other byte stays.",
    )
    p.add_argument("results", help="results folder holding one model revision, or a model card README.md")
    p.add_argument("--output", type=Path, help="write the model-index block to FILE")
    p.add_argument(
        "--update", type=Path, metavar="README", help="replace the model-index in this README's front matter"
    )
    p.add_argument("--name", help="model name in the model-index (default: the model's name without its org)")
    add_suite(p, "the tasks the card shows")
    p.set_defaults(handler=handle_emit)
    p = actions.add_parser(
        "import",
        help="convert a model card's model-index into mteb result JSON",
        description="Write the card's results as OUTPUT_DIR/<name>/external/<Task>.json (mteb 2.x TaskResult "
        "JSON, 0-1 scale) with a model_meta.json, so a published card can be compared, merged and re-emitted.",
    )
    p.add_argument("card", help="model card README.md")
    p.add_argument("-o", "--output-dir", type=Path, required=True, help="results folder to write into")
    add_suite(p, "the tasks imported")
    p.set_defaults(handler=handle_import)


def handle_emit(args) -> int:
    """Print the model-index, or write it to --output, or put it in a README with --update."""
    import evalkit

    text = evalkit.model_index(args.results, suite=args.suite, name=args.name)
    if args.output:
        write_text_atomic(Path(args.output), text)
    if args.update:
        updated = evalkit.update_card(args.update, text)
        print(f"{args.update}: model-index {'updated' if updated else 'unchanged'}", file=sys.stderr)
    if not args.output and not args.update:
        sys.stdout.write(text)
    return 0


def handle_import(args) -> int:
    import evalkit

    for folder in evalkit.import_card(args.card, args.output_dir, suite=args.suite):
        print(f"wrote {folder}")
    return 0
