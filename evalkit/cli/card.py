"""`card emit`, `card import` and `card push`: model-card metadata and `.eval_results` from results, results from a
card, and both published to the hub in one commit."""

from __future__ import annotations

import sys
from pathlib import Path

from evalkit.cli.options import add_suite
from evalkit.errors import UserError
from evalkit.fileio import write_text_atomic

FORMATS = ("model-index", "eval-results")


def add_parsers(sub) -> None:
    card = sub.add_parser(
        "card",
        help="emit, update, import or push a model card's results (model-index, .eval_results, results table)",
        description="The hub reads a model's scores from two places: the README's `model-index` front matter (the "
        "C-MTEB cards' format, which the hub now calls legacy) and YAML files under `.eval_results/` (what the "
        "model page and the benchmark leaderboards show today). `card emit` writes either from results (--update "
        "puts the model-index, and with --table a results table, into a README); `card import` turns a card into "
        "result JSON; `card push` publishes the README and .eval_results/ to a hub repository in one commit.",
    )
    actions = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "emit",
        help="write the model-index YAML (C-MTEB card layout) or the .eval_results files of a model's results",
        description="Read one model revision's results (any mteb result format, a model card, or a model "
        "repository's .eval_results/) and write the model card's `model-index` YAML. Without --output or --update "
        "it is printed. --update replaces only the model-index of a README's front matter (and with --table the "
        "results table between evalkit's markers in its body); every other byte stays. --format eval-results "
        "writes one <Task>.yaml per task into --output-dir, exactly as mteb's push_eval_results would.",
    )
    p.add_argument("results", help="results folder holding one model revision, a model card README.md, or a folder "
                   "with .eval_results/")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="model-index", help="what to write (default: model-index)")
    p.add_argument("--output", type=Path, help="write the model-index block to FILE")
    p.add_argument(
        "--update", type=Path, metavar="README", help="replace the model-index in this README's front matter"
    )
    p.add_argument(
        "--table",
        action="store_true",
        help="with --update: also write a Markdown table of the scores (grouped by task type, with averages) into "
        "the README's body, between evalkit's markers (replaced in place on later updates)",
    )
    p.add_argument("--name", help="model name in the model-index (default: the model's name without its org)")
    p.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="with --format eval-results: the folder to write <Task>.yaml into (a model repository's .eval_results)",
    )
    _add_eval_results_options(p)
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
    p = actions.add_parser(
        "push",
        help="publish a model's results to a hub model repository: README (model-index, table) and .eval_results/",
        description="Publish one model revision's results to the Hugging Face hub in one commit: the README with "
        "its model-index and results table updated (every other byte kept) and .eval_results/<Task>.yaml. The "
        "README starts from --readme, else from the repository's own. Needs the hub and a token with write access "
        "(--token, HF_TOKEN or `hf auth login`); --dry-run needs neither when --readme is given.",
    )
    p.add_argument("repo_id", metavar="REPO_ID", help="the model repository on the hub, e.g. my-org/my-model")
    p.add_argument("results", help="results folder holding one model revision")
    p.add_argument("--readme", type=Path, help="start from this local README (default: the repository's README)")
    p.add_argument("--name", help="model name in the model-index (default: the model's name without its org)")
    p.add_argument(
        "--create-pr",
        action="store_true",
        help="open a pull request instead of committing: the way to add results to someone else's model",
    )
    p.add_argument("--revision", help="the branch to commit to, or to open the pull request against (default: main)")
    p.add_argument("--token", help="a hub token with write access (default: HF_TOKEN, then the saved login)")
    p.add_argument("--commit-message", help="the commit (or pull request) title")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the files and the README diff that would be committed; push nothing",
    )
    _add_eval_results_options(p)
    add_suite(p, "the tasks published")
    p.set_defaults(handler=handle_push)


def _add_eval_results_options(parser) -> None:
    parser.add_argument("--user", help="the hub user or organization named as the source of each .eval_results entry")
    parser.add_argument(
        "--benchmark-repo",
        metavar="REPO_ID",
        help="the hub dataset of the suite's leaderboard: with it, a complete suite adds <suite>.yaml with mteb's "
        "Mean (Task), as mteb writes a benchmark's entry",
    )


def handle_emit(args) -> int:
    """Print the model-index, or write it to --output, or put it in a README with --update; or write .eval_results."""
    import evalkit

    if args.format == "eval-results":
        return _emit_eval_results(args)
    if args.output_dir:
        raise UserError("--output-dir goes with --format eval-results (the model-index goes to --output or --update)")
    if args.table and not args.update:
        raise UserError("--table writes into the README of --update; give --update README.md")
    text = evalkit.model_index(args.results, suite=args.suite, name=args.name)
    if args.output:
        write_text_atomic(Path(args.output), text, follow_link=True)
    if args.update:
        table = evalkit.results_table(args.results, suite=args.suite) if args.table else None
        updated = evalkit.update_card(args.update, text, table=table)
        what = "model-index and results table" if args.table else "model-index"
        print(f"{args.update}: {what} {'updated' if updated else 'unchanged'}", file=sys.stderr)
    if not args.output and not args.update:
        sys.stdout.write(text)
    return 0


def _emit_eval_results(args) -> int:
    import evalkit

    if args.output or args.update or args.table or args.name:
        raise UserError("--format eval-results writes into --output-dir; --output, --update, --table and --name "
                        "are for the model-index")  # fmt: skip
    if not args.output_dir:
        raise UserError("--format eval-results needs --output-dir (a model repository's .eval_results folder)")
    published = evalkit.eval_results(
        args.results, args.output_dir, suite=args.suite, user=args.user, benchmark_repo=args.benchmark_repo
    )
    for name in published.files:
        print(f"wrote {args.output_dir / name}")
    _print_notes(published.notes)
    return 0


def handle_import(args) -> int:
    import evalkit

    for folder in evalkit.import_card(args.card, args.output_dir, suite=args.suite):
        print(f"wrote {folder}")
    return 0


def handle_push(args) -> int:
    """Push the README and .eval_results/ in one commit, or with --dry-run print what that commit would hold."""
    import evalkit

    publication = evalkit.push(
        args.repo_id,
        args.results,
        suite=args.suite,
        readme=args.readme,
        name=args.name,
        create_pr=args.create_pr,
        revision=args.revision,
        token=args.token,
        dry_run=args.dry_run,
        user=args.user,
        benchmark_repo=args.benchmark_repo,
        commit_message=args.commit_message,
    )
    _print_notes(publication.notes)
    if not args.dry_run:
        print(f"pushed to {args.repo_id}: {publication.url}")
        return 0
    target = f"{args.repo_id}" + (f" (revision {args.revision})" if args.revision else "")
    print(f"dry run: {'a pull request to' if args.create_pr else 'a commit to'} {target} would hold")
    for path, text in publication.files.items():
        print(f"  {path} ({len(text.encode('utf-8'))} bytes)")
    diff = publication.readme_diff()
    print(f"\n{diff}" if diff else "\nREADME.md: unchanged", end="" if diff.endswith("\n") else "\n")
    return 0


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
