"""``model-routing serve``: the webhook edge on uvicorn, with embedded queue workers.

It says which GitHub credentials it uses. Without any, ``GET /`` is the setup page: open
http://127.0.0.1:PORT on this machine, or, from another, the link with the setup token printed
here."""

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
    settings, config, credentials = started
    app = create_app(settings, config, workers=args.workers, dry_run=args.dry_run,
                     credentials=credentials)
    log.info("serving on http://%s:%d (queue: %s, %d worker threads%s)", args.host, args.port,
             describe(settings), args.workers,
             ", dry run" if args.dry_run else "")
    if not credentials.configured:
        if args.host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""):
            log.info("not connected to GitHub yet: open http://127.0.0.1:%d to connect it to GitHub",
                     args.port)
        # a proxy on this machine makes every request look local: it needs the token too
        shown = "THIS-HOST" if args.host in ("0.0.0.0", "::", "") else args.host
        log.info("from another machine or through a proxy: http://%s:%d/?token=%s (until the "
                 "server stops)", f"[{shown}]" if ":" in shown else shown, args.port, app.setup.token)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", lifespan="on",
                timeout_graceful_shutdown=30, **UVICORN_SETTINGS)
    return 0

