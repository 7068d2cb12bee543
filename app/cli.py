"""The `gatescope` command: serve, train, evidence and the benchmarks."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatescope.zoo.trainer import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatescope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the page and the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="processes that serve as one (they share the data folders)"
    )

    bench = commands.add_parser("bench", help="time the full trace against torch's own kernels")
    bench.add_argument("--steps", type=int, default=2000)
    bench.add_argument("--input", type=int, default=32)
    bench.add_argument("--hidden", type=int, default=128)
    bench.add_argument("--repeats", type=int, default=15)
    bench.add_argument("--threads", type=int, default=1)

    bench_api = commands.add_parser("bench-api", help="time the HTTP and WebSocket API on a real server")
    bench_api.add_argument("--repeats", type=int, default=30)

    bench_analysis = commands.add_parser("bench-analysis", help="time every analysis view at H=128, T=1000")
    bench_analysis.add_argument("--repeats", type=int, default=5)

    bench_class = commands.add_parser("bench-class", help="a class of students streaming at once")
    bench_class.add_argument("--students", type=int, default=50)
    bench_class.add_argument("--steps", type=int, default=200)
    bench_class.add_argument("--hidden", type=int, default=64)
    bench_class.add_argument("--workers", type=int, default=1)
    bench_class.add_argument(
        "--rounds", type=int, default=5, help="times the whole class presses Run at once"
    )

    bench_page = commands.add_parser("bench-page", help="time cursor moves in the page (headless Chromium)")
    bench_page.add_argument("--steps", type=int, default=2000)
    bench_page.add_argument("--hidden", type=int, default=128)
    bench_page.add_argument("--moves", type=int, default=40)
    bench_page.add_argument(
        "--real-size", action="store_true", help="time Run at 2 x 512 units, T=1000, and the heap"
    )

    add_train_arguments(
        commands.add_parser("train", help="train a model on a task and save it as a checkpoint")
    )

    evidence = commands.add_parser("evidence", help="measure the shipped models: metric, size, speed")
    evidence.add_argument("--models", default="models", help="directory of checkpoints (default: models)")
    evidence.add_argument("--timing-steps", type=int, default=20, help="training steps timed per round")
    evidence.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median)")
    evidence.add_argument(
        "--sweep",
        action="append",
        default=[],
        help="TASK=L1,L2: also train that task's configs at these lengths",
    )
    evidence.add_argument("--threads", type=int, default=1)

    seeds = commands.add_parser("seeds", help="train every shipped config again with more seeds")
    seeds.add_argument("--models", default="models", help="directory of checkpoint cards (default: models)")
    seeds.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    seeds.add_argument("--write", action="store_true", help="store every seed's metric in the cards")
    seeds.add_argument("--threads", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # plain `gatescope` or `python -m gatescope` starts the server
        argv = ["serve"]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return COMMANDS[args.command](args)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        sys.stderr.write(f"gatescope serve: --workers must be at least 1, got {args.workers}\n")
        return 2
    from gatescope.web.app import WS_PER_MESSAGE_DEFLATE

    workers = {} if args.workers == 1 else {"workers": args.workers}
    uvicorn.run(
        "gatescope.web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        **workers,
        ws_per_message_deflate=WS_PER_MESSAGE_DEFLATE,
    )
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from gatescope.bench.kernels import report

    text, ok = report(args.steps, args.input, args.hidden, args.repeats, args.threads)
    sys.stdout.write(text + "\n")
    return 0 if ok else 1


def run_bench_page(args: argparse.Namespace) -> int:
    from gatescope.bench.page import real_size_report, report

    if args.real_size:
        sys.stdout.write(real_size_report() + "\n")
        return 0
    sys.stdout.write(report(args.steps, args.hidden, args.moves) + "\n")
    return 0


def run_bench_api(args: argparse.Namespace) -> int:
    from gatescope.bench.api import report

    sys.stdout.write(report(args.repeats) + "\n")
    return 0


def run_bench_class(args: argparse.Namespace) -> int:
    from gatescope.bench.classroom import report

    sys.stdout.write(report(args.students, args.steps, args.hidden, args.workers, args.rounds))
    return 0


def run_bench_analysis(args: argparse.Namespace) -> int:
    from gatescope.bench.analysis import report

    text, ok = report(args.repeats)
    sys.stdout.write(text + "\n")
    return 0 if ok else 1


def run_evidence(args: argparse.Namespace) -> int:
    from gatescope.bench.evidence import parse_sweep, report

    try:
        sweeps = dict(parse_sweep(text) for text in args.sweep)
    except ValueError as exc:
        sys.stderr.write(f"gatescope evidence: {exc}\n")
        return 2
    sys.stdout.write(report(args.models, args.timing_steps, args.rounds, sweeps, args.threads))
    return 0


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from gatescope.zoo.tasks import TASKS

    parser.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    parser.add_argument("--arch", default="lstm", help="rnn, lstm or gru (default: lstm)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden size (default: 32)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", type=int, default=None, help="the task's length parameter")
    parser.add_argument("--nonlinearity", default=None, help="plain RNN only: tanh or relu")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--out", default="models", help="directory for the checkpoint (default: models)")
    parser.add_argument("--id", default=None, help="checkpoint id (default: <task>-<arch>)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is reproducible)")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that `gatescope train`'s arguments ask for."""
    from gatescope.zoo.trainer import TrainConfig

    return TrainConfig(
        task=args.task,
        arch=args.arch,
        hidden_size=args.hidden,
        num_layers=args.layers,
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        length=args.length,
        nonlinearity=args.nonlinearity,
        clip=args.clip,
        log_every=max(1, args.steps // 200),
    )


def run_train(args: argparse.Namespace) -> int:
    """`gatescope train`: train with a progress bar on stderr, then save the checkpoint."""
    import torch

    from gatescope.settings import load_settings
    from gatescope.zoo.trainer import TrainResult, save_checkpoint, train_steps

    torch.set_num_threads(args.threads)
    config = train_config(args)
    try:
        config.validate(load_settings())
    except ValueError as exc:
        sys.stderr.write(f"gatescope train: {exc}\n")
        return 2
    for event in train_steps(config):
        if isinstance(event, TrainResult):
            path = save_checkpoint(event, args.out, args.id)
            metric = event.card["metric"]
            sys.stderr.write("\n")
            sys.stdout.write(f"{path}: held-out {metric['name']} = {metric['value']:.4g}\n")
            return 0
        filled = int(30 * event.step / event.steps)
        sys.stderr.write(
            f"\r[{'#' * filled}{'-' * (30 - filled)}] {event.step}/{event.steps} loss {event.loss:.4f} "
            f"metric {event.metric:.4g} {1000 * event.seconds_per_step:.1f} ms/step"
        )
        sys.stderr.flush()
    return 1


def run_seeds(args: argparse.Namespace) -> int:
    from gatescope.bench.seeds import run

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        sys.stderr.write(f"gatescope seeds: --seeds takes whole numbers like 0,1,2, got {args.seeds!r}\n")
        return 2
    sys.stdout.write(run(args.models, seeds, args.write, args.threads))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": run_serve,
    "bench": run_bench,
    "bench-page": run_bench_page,
    "bench-api": run_bench_api,
    "bench-analysis": run_bench_analysis,
    "bench-class": run_bench_class,
    "train": run_train,
    "evidence": run_evidence,
    "seeds": run_seeds,
}

if __name__ == "__main__":
    raise SystemExit(main())
