"""The process-wide queue services, for ``serve`` (embedded workers) and ``worker``.

``Services`` is what one process needs to take part in the queue: the delivery store, huey with
the task registered, the reaper, and (when it runs jobs) the dispatcher built once, the job
runner and huey's worker threads. ``serve`` builds it with embedded workers; ``worker`` builds
it alone and blocks in huey's consumer loop, which handles SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Config
from bot.config_files import load_operator_config
from bot.dispatch.dispatcher import Dispatcher
from bot.github.clients import RetryPolicy
from bot.settings import Settings
from bot.store.backends import kind, make_huey, open_store
from bot.store.credentials import Credentials
from bot.store.deliveries import DeliveryStore
from bot.work.jobs import JobRunner
from bot.work.queue import JobQueue, QueueConsumer, QueueOptions, Reaper

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
        credentials: Credentials | None = None,
    ) -> Services:
        """``credentials``: where the jobs' GitHub credentials come from (default: resolved
        from ``settings`` and the data directory, see ``bot.store.credentials``)."""
        from bot.work.compose import build_dispatcher

        options = options or QueueOptions.from_env()
        config = config if config is not None else load_operator_config(settings.config_path)
        store = open_store(settings, grace_s=options.grace_s)
        queue = JobQueue(make_huey(settings), store)
        credentials = credentials if credentials is not None else Credentials.resolve(settings)
        dispatcher = build_dispatcher(settings, config, retry, holds=store,  # once per process
                                      credentials=credentials)
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
        return kind(self.settings)
