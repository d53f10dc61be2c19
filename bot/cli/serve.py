"""``model-routing serve``: the webhook edge on uvicorn, with embedded queue workers."""

from __future__ import annotations

import argparse
import logging

from bot.cli.startup import startup
from bot.edge.app import UVICORN_SETTINGS, create_app
from bot.store.backends import describe

log = logging.getLogger("model_routing.server")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    started = startup(args, min_workers=0)
    if started is None:
        return 2
    settings, config = started
    app = create_app(settings, config, workers=args.workers, dry_run=args.dry_run)
    log.info("serving on http://%s:%d (queue: %s, %d worker threads%s)", args.host, args.port,
             describe(settings), args.workers,
             ", dry run" if args.dry_run else "")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", lifespan="on",
                timeout_graceful_shutdown=30, **UVICORN_SETTINGS)
    return 0
