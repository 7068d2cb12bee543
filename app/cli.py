"""The `gatescope` command: serve, bench (and, as they land, train)."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatescope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the page and the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)

    bench = commands.add_parser("bench", help="time the full trace against torch's own kernels")
    bench.add_argument("--steps", type=int, default=2000)
    bench.add_argument("--input", type=int, default=32)
    bench.add_argument("--hidden", type=int, default=128)
    bench.add_argument("--repeats", type=int, default=15)
    bench.add_argument("--threads", type=int, default=1)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        import uvicorn

        uvicorn.run("app.main:app", host=args.host, port=args.port)
        return 0
    if args.command == "bench":
        from app.bench import report

        text, ok = report(args.steps, args.input, args.hidden, args.repeats, args.threads)
        sys.stdout.write(text + "\n")
        return 0 if ok else 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
