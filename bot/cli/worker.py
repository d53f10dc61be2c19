"""``model-routing worker``: queue workers only, on any machine that reaches ``REDIS_URL``. It
blocks in huey's consumer loop, which handles SIGINT and SIGTERM; running jobs drain or are
released for another worker."""

from __future__ import annotations

import argparse
import logging

from bot.cli.startup import startup
from bot.store.backends import describe
from bot.work.services import Services

log = logging.getLogger("model_routing.worker")


def run(args: argparse.Namespace) -> int:
    started = startup(args, min_workers=1)
    if started is None:
        return 2
    settings, config, credentials = started
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: working the queue %s (this machine only)", describe(settings))
    services = Services.build(settings, config, workers=args.workers, embedded=False, dry_run=args.dry_run,
                              credentials=credentials)
    assert services.consumer is not None
    services.start()
    try:
        services.consumer.run()  # blocks; huey's signal handling ends it
    finally:
        services.stop()  # running jobs drain or are released for another worker
    return 0
