"""The entry point: :class:`Client` holds where and how to connect, and opens streams."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from ..protocol import RecognitionParams, Region, ResumePoint
from .config import ClientConfig, KeyProvider, Resilience, Timeouts
from .connection import Clock
from .stream import RecognitionStream
from .transport import TransportFactory
from .vocabularies import Vocabularies

__all__ = ["Client"]


class Client:
    """A Fun-ASR real-time client. Cheap to create; holds no connection itself.

    ::

        client = Client()                                   # $DASHSCOPE_API_KEY, Singapore
        client = Client(region="cn")                        # Beijing
        client = Client(url="ws://127.0.0.1:8765/api-ws/v1/inference")   # local server
        client = Client(transport=MockTransport(handler))   # in memory, for tests
        client = Client(transport="picows")                 # the fast transport ([fast] extra)

        async with client.stream(language_hints=["en"]) as stream:
            ...

    The API key is never logged and never appears in a repr or an exception. ``api_key`` may
    be a :data:`~funasr_realtime.client.config.KeyProvider` (a function, sync or async,
    returning the key), asked on every connect: for keys that expire (README, "Keys that expire").
    """

    def __init__(
        self,
        *,
        api_key: str | SecretStr | KeyProvider | None = None,
        url: str | None = None,
        region: Region | str | None = None,
        workspace: str | None = None,
        data_inspection: bool = False,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        allow_insecure: bool = False,
        resilience: Resilience | None = None,
        clock: Clock = time.monotonic,
        transport: TransportFactory | str | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            api_key=api_key,
            url=url,
            region=region,
            workspace=workspace,
            data_inspection=data_inspection,
            headers=headers,
            timeouts=timeouts,
            allow_insecure=allow_insecure,
            transport=transport,
        )
        self.resilience = resilience or Resilience()
        self._clock = clock
        self._allow_insecure = allow_insecure

    def stream(
        self, params: RecognitionParams | None = None, *, resume_from: ResumePoint | None = None, **options: Any
    ) -> RecognitionStream:
        """A new stream. Pass ``params`` or the parameter keywords (``model=``, ``language_hints=``...).

        ``resume_from`` continues an earlier stream that failed or was closed (its
        :meth:`~RecognitionStream.resume_point`): this stream's timeline starts at the
        point's offset and its audio is sent first, so sentence times continue the old ones
        and no word that no final covered is lost. Raises :class:`ConfigurationError` at once
        if the model cannot serve the parameters here (sample rate, language, region), and
        :class:`LocalProtocolError` if the point's sample rate is not the stream's.
        """
        if params is not None and options:
            raise TypeError("pass either params or parameter keywords, not both")
        return RecognitionStream(
            self.config,
            params or RecognitionParams(**options),
            resilience=self.resilience,
            clock=self._clock,
            resume_from=resume_from,
        )

    @property
    def vocabularies(self) -> Vocabularies:
        """The account's hot-word vocabularies, on the same endpoint, key and workspace (README, "Hot words")."""
        return Vocabularies(self.config, allow_insecure=self._allow_insecure)

    def __repr__(self) -> str:
        key = "provider" if self.config.key_provider else ("set" if self.config.api_key else "none")
        return f"Client(url={self.config.url!r}, region={self.config.region}, api_key={key})"
