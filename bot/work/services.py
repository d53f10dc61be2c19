"""The process-wide queue services, and ``model-routing worker``.

``Services`` is what one process needs to take part in the queue: the delivery store, huey with
the task registered, the reaper, and (when it runs jobs) the dispatcher built once, the job
runner and huey's worker threads. ``serve`` builds it with embedded workers; ``worker`` builds
it alone and blocks in huey's consumer loop, which handles SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from bot.config import Config, ConfigError, load_operator_config
from bot.store.deliveries import DeliveryStore, open_store
from bot.dispatch.dispatcher import Dispatcher
from bot.github.clients import RetryPolicy
from bot.work.jobs import JobRunner
from bot.work.queue import JobQueue, QueueConsumer, QueueOptions, Reaper, make_huey
from bot.settings import Settings, SettingsError

log = logging.getLogger("model_routing.worker")


@dataclass
class Services:
    settings: Settings
    store: DeliveryStore
    queue: JobQueue
    dispatcher: Dispatcher
    reaper: Reaper
    runner: JobRunner | None = None
    consumer: QueueConsumer | None = None
    workers: int = 0

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: Config | None = None,
        *,
        workers: int = 2,
        embedded: bool = True,
        dry_run: bool = False,
        options: QueueOptions | None = None,
        retry: RetryPolicy | None = None,
    ) -> Services:
        from bot.work.compose import build_dispatcher

        options = options or QueueOptions.from_env()
        config = config if config is not None else load_operator_config(settings.config_path)
        store = open_store(settings.data_dir, settings.redis_url, grace_s=options.grace_s)
        queue = JobQueue(make_huey(settings), store)
        dispatcher = build_dispatcher(settings, config, retry, holds=store)  # once per process
        services = cls(settings, store, queue, dispatcher, Reaper(queue, options.reap_s), workers=workers)
        if workers > 0:
            services.runner = JobRunner(store, dispatcher, queue.retry_later, options.jobs, dry_run=dry_run)
            queue.attach(services.runner.run)
            services.consumer = QueueConsumer(queue, workers, embedded=embedded,
                                              shutdown_timeout=options.jobs.drain_s + 5)
        return services

    def start(self) -> None:
        """Workers first, then the reaper; ``worker`` then blocks in ``consumer.run``, which
        starts huey's threads itself."""
        if self.runner is not None and self.consumer is not None:
            self.runner.start()
            if self.consumer.embedded:
                self.consumer.start()
        self.reaper.start()

    def stop(self) -> None:
        self.reaper.stop()
        if self.runner is not None and self.consumer is not None:
            self.runner.stop()  # running jobs drain, then are released
            self.consumer.stop(graceful=True)
            self.runner.close()
        self.dispatcher.ledger.close()
        self.store.close()

    @property
    def queue_backend(self) -> str:
        return "redis" if self.settings.redis_url else "sqlite"


def startup(args: argparse.Namespace, min_workers: int) -> tuple[Settings, Config] | None:
    """Settings and operator config for ``serve`` and ``worker``, or None after logging why
    they cannot start (the command then exits 2)."""
    if args.workers < min_workers:
        log.error("--workers must be at least %d", min_workers)
        return None
    try:
        settings = Settings.from_env()
        return settings, load_operator_config(settings.config_path)
    except (SettingsError, ConfigError) as exc:
        log.error("%s", exc)
        return None


def run(args: argparse.Namespace) -> int:
    started = startup(args, min_workers=1)
    if started is None:
        return 2
    settings, config = started
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: working the SQLite queue in %s (this machine only)",
                    settings.data_dir)
    services = Services.build(settings, config, workers=args.workers, embedded=False, dry_run=args.dry_run)
    assert services.consumer is not None
    services.start()
    try:
        services.consumer.run()  # blocks; huey's signal handling ends it
    finally:
        services.stop()  # running jobs drain or are released for another worker
    return 0
