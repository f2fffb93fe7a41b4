"""Everything a console page uses, opened once per process and closed on shutdown."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from botocore.config import Config

from recsvc.console.exporting import ExportRunner
from recsvc.console.readers.generation import GenerationReader
from recsvc.console.readers.metrics import MetricsWatcher
from recsvc.console.readers.recommendations import RecommendClient
from recsvc.console.readers.records import RecordBook
from recsvc.console.settings import ConsoleSettings, SignInToken

__all__ = ["Console", "open_console"]


@dataclass
class Console:
    settings: ConsoleSettings
    tokens: tuple[SignInToken, ...]
    reader: GenerationReader
    records: RecordBook
    metrics: MetricsWatcher
    recommender: RecommendClient
    exports: ExportRunner
    stack: AsyncExitStack

    async def aclose(self) -> None:
        await self.stack.aclose()


async def open_console(settings: ConsoleSettings) -> Console:
    import aioboto3

    stack = AsyncExitStack()
    config = Config(
        connect_timeout=min(settings.store_timeout_s, 2.0),
        read_timeout=settings.store_timeout_s,
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=20,
    )
    client = await stack.enter_async_context(aioboto3.Session().client(
        "dynamodb", region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url, config=config))
    reader = GenerationReader(
        client, settings.table, timeout_s=settings.store_timeout_s,
        history=settings.history_generations, summaries_ttl_s=settings.summaries_ttl_s)
    stack.push_async_callback(reader.aclose)
    records = RecordBook(client, settings.table)
    metrics = MetricsWatcher(settings.metrics_url_list, settings.metrics_interval_s,
                             settings.metrics_window_s)
    metrics.start()
    stack.push_async_callback(metrics.aclose)
    recommender = RecommendClient(
        settings.recsvc_target, tls=settings.recsvc_tls,
        token=settings.recommend_token.get_secret_value(),
        timeout_s=settings.recommend_timeout_s)
    stack.push_async_callback(recommender.aclose)
    exports = ExportRunner(reader, records, settings)
    # Closed first (the stack unwinds in reverse): interrupted exports are still recorded.
    stack.push_async_callback(exports.aclose)
    return Console(settings, settings.sign_in_tokens, reader, records, metrics, recommender,
                   exports, stack)
