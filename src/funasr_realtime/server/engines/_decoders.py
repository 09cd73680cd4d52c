"""The decoders of the pocketsphinx engine: a bounded pool, and the utterances that borrow them.

See :mod:`.pocketsphinx` for the contract (a decoder is lent to a sentence, never to a
connection; a sentence keeps its PCM so it can lose its decoder and re-decode elsewhere).
``pocketsphinx`` itself is never imported here: decoders are made by the engine's factory.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._heap import trim_heap

__all__ = ["FRAME_MS", "LM_FILE", "LM_SEARCH", "Decoder", "DecoderPool", "PocketsphinxUtterance", "clean_words"]

logger = logging.getLogger("funasr_realtime.server.engines.pocketsphinx")

# pocketsphinx ships no type information; its Decoder is handled as Any.
Decoder: TypeAlias = Any

FRAME_MS = 10  # pocketsphinx's default frame rate is 100 frames per second
LM_SEARCH = "lm"
LM_FILE = "en-us/en-us.lm.bin"
_PRONUNCIATION_SUFFIX = re.compile(r"\(\d+\)$")
# <s>, </s>, <sil>, [NOISE], [BREATH], ++GARBAGE++ ...: fillers, not words.
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")


def clean_words(raw: Iterable[str]) -> list[str]:
    """Drop filler tokens and strip ``(2)``-style pronunciation variants."""
    words = (_PRONUNCIATION_SUFFIX.sub("", token) for token in raw)
    return [word for word in words if word and not _FILLER.match(word)]


@dataclass(slots=True)
class _Lease:
    """A decoder lent to one utterance; ``busy`` while the utterance is inside a decoder call."""

    decoder: Decoder
    busy: bool = False
    last_used: float = 0.0


@dataclass(frozen=True, slots=True)
class _Grant:
    """A decoder handed to an utterance for one call.

    ``new``: the utterance did not hold it before, so it must start a fresh utterance on it and
    feed its kept PCM from the beginning.  ``dirty``: it was taken from another sentence whose
    utterance is still started on it (it must be ended first).
    """

    decoder: Decoder
    new: bool
    dirty: bool


class DecoderPool:
    """At most ``max_decoders`` decoders, lent to utterances (see the module docstring).

    Thread-safe.  Decoders are created outside the lock (~0.25 s each); the count reserves the
    slot first, so the bound holds while one is being built.
    """

    def __init__(
        self,
        factory: Callable[[], Decoder],
        *,
        max_decoders: int,
        max_idle: int,
        steal_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._max_decoders = max_decoders
        self._max_idle = max_idle
        self._steal_after = steal_after_s
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._free: list[Decoder] = []  # not started, owned by nobody
        self._leases: OrderedDict[object, _Lease] = OrderedDict()  # least recently used first
        self._waiting: dict[object, float] = {}  # sentences refused a decoder, since when
        self._count = 0  # decoders alive or being created

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._free)

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def prefill(self, decoders: list[Decoder]) -> None:
        with self._cond:
            self._free.extend(decoders)
            self._count += len(decoders)

    def checkout(self, owner: object, *, wait: bool) -> _Grant | None:
        """A decoder for ``owner``'s next call, marked busy; None if none can be had without waiting.

        Order: the owner's own lease, a free decoder, a new one (below the bound), one taken from
        a stale sentence (see :meth:`_victim`; any sentence not inside a call when ``wait``); then,
        when ``wait``, the first one whose call ends.
        """
        with self._cond:
            while True:
                grant = self._grant_now(owner, wait=wait)
                if grant is not None:
                    self._waiting.pop(owner, None)
                    return grant
                if self._count < self._max_decoders:
                    self._count += 1
                    return self._create_for(owner)
                if not wait:
                    self._waiting.setdefault(owner, self._clock())
                    return None
                # Every decoder is inside a call: calls end, and each end notifies.
                self._cond.wait(timeout=1.0)

    def _grant_now(self, owner: object, *, wait: bool) -> _Grant | None:
        lease = self._leases.get(owner)
        if lease is not None:
            lease.busy = True
            return _Grant(lease.decoder, new=False, dirty=False)
        if self._free:
            self._leases[owner] = _Lease(self._free.pop(), busy=True)
            return _Grant(self._leases[owner].decoder, new=True, dirty=False)
        if self._count < self._max_decoders:
            return None  # the caller creates one
        victim = self._victim(owner, any_idle=wait)
        if victim is None:
            return None
        stolen = self._leases.pop(victim)
        logger.debug("lending an idle sentence's decoder to another sentence (%d decoders)", self._count)
        self._leases[owner] = _Lease(stolen.decoder, busy=True)
        return _Grant(stolen.decoder, new=True, dirty=True)

    def _victim(self, requester: object, *, any_idle: bool) -> object | None:
        """The least recently used sentence ``requester`` may take a decoder from, if any.

        Stale means: not fed at all since ``requester`` was first refused a decoder, and that was
        ``steal_after_s`` ago.  Under overload every active sentence is fed again within a round
        of the scheduler, so active sentences never take decoders from each other (which would
        re-decode everything, over and over); an abandoned sentence loses its decoder.
        """
        now = self._clock()
        since = self._waiting.get(requester, now)
        if not any_idle and now - since < self._steal_after:
            return None
        for owner, lease in self._leases.items():  # least recently used first
            if not lease.busy and (any_idle or lease.last_used <= since):
                return owner
        return None

    def _create_for(self, owner: object) -> _Grant:
        """Build a decoder outside the lock for ``owner``; its slot is already counted."""
        self._cond.release()
        try:
            decoder = self._factory()
        except BaseException:
            self._cond.acquire()
            self._count -= 1
            self._cond.notify_all()
            raise
        self._cond.acquire()
        self._leases[owner] = _Lease(decoder, busy=True)
        return _Grant(decoder, new=True, dirty=False)

    def checkin(self, owner: object) -> None:
        """``owner``'s call ended normally; it keeps the decoder until it is ended or taken."""
        with self._cond:
            lease = self._leases.get(owner)
            if lease is not None:
                lease.busy = False
                lease.last_used = self._clock()
                self._leases.move_to_end(owner)
            self._cond.notify_all()

    def detach(self, owner: object) -> Decoder | None:
        """Take ``owner``'s decoder back from it (None if it holds none); pass it to :meth:`put`."""
        with self._cond:
            self._waiting.pop(owner, None)
            lease = self._leases.pop(owner, None)
            return None if lease is None else lease.decoder

    def put(self, decoder: Decoder | None, *, healthy: bool) -> None:
        """Return a detached decoder: reused if ``healthy`` (not started), else discarded."""
        dropped: list[Decoder] = []
        with self._cond:
            if decoder is not None:
                if healthy:
                    self._free.append(decoder)
                else:
                    self._count -= 1
            if not self._leases and len(self._free) > self._max_idle:
                # No sentence is open: free what a burst left behind.
                dropped = self._free[self._max_idle :]
                del self._free[self._max_idle :]
                self._count -= len(dropped)
            self._cond.notify_all()
        if dropped:
            logger.debug("freeing %d idle pocketsphinx decoders", len(dropped))
            dropped.clear()  # the last references: the decoders are freed here
            trim_heap()

    def drain(self) -> None:
        """Free every idle decoder (for a pool that is being dropped; lent ones stay lent)."""
        with self._cond:
            dropped, self._free = self._free, []
            self._count -= len(dropped)
        dropped.clear()


class PocketsphinxUtterance:
    """One sentence; decodes on a pooled decoder when it can get one.  See :class:`.base.Utterance`.

    It keeps the sentence's PCM, so it can lose its decoder between calls (to another sentence)
    and re-decode from the start on another one; ``end()`` always gets a decoder.
    """

    def __init__(
        self,
        pool: DecoderPool,
        decode_lock: threading.Lock,
        *,
        second_pass: bool,
        spelling: Mapping[str, str] | None = None,
    ) -> None:
        self._pool = pool
        self._lock = decode_lock
        self._second_pass = second_pass
        self._spelling = spelling or {}  # dictionary word -> how a hot word spells it
        self._carry = b""  # an odd trailing byte, completed by the next feed
        self._pcm = bytearray()  # every whole sample of the sentence
        self._fed = 0  # bytes of _pcm the held decoder has processed
        self._text = ""
        self._ended = False
        self._closed = False
        # Take a decoder now when one is at hand, so a lone sentence decodes as it arrives.
        self._decode(self._pool.checkout(self, wait=False))

    def feed(self, pcm16k: bytes) -> str:
        self._check("feed")
        data = self._carry + pcm16k
        whole = len(data) & ~1
        self._carry = data[whole:]
        self._pcm += data[:whole]
        if whole:
            # No decoder free: keep the audio, report the last partial; it is decoded later.
            self._decode(self._pool.checkout(self, wait=False))
        return self._text

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        self._check("end")
        self._ended = True
        grant = self._pool.checkout(self, wait=True)
        assert grant is not None
        try:
            with self._lock:
                self._catch_up(grant)
                grant.decoder.end_utt()
                if self._second_pass and self._pcm:
                    _decode_with_own_mean(grant.decoder, bytes(self._pcm))
                words = [(self._spelling.get(w, w), b, e) for w, b, e in _segment_words(grant.decoder)]
        except BaseException:
            self._pool.put(self._pool.detach(self), healthy=False)
            raise
        self._pool.put(self._pool.detach(self), healthy=True)  # ended: clean for the next sentence
        self._pcm = bytearray()
        return " ".join(word for word, _, _ in words), words

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pcm = bytearray()
        decoder = self._pool.detach(self)
        if decoder is None:
            return
        healthy = True
        try:
            with self._lock:
                decoder.end_utt()  # abandoned mid-sentence: stop its utterance before reuse
        except RuntimeError:
            healthy = False
            logger.warning("discarding a pocketsphinx decoder left in an unknown state")
        self._pool.put(decoder, healthy=healthy)

    def _decode(self, grant: _Grant | None) -> None:
        if grant is None:
            return
        try:
            with self._lock:
                self._catch_up(grant)
                text = _hyp_text(grant.decoder)
                self._text = " ".join(self._spelling.get(w, w) for w in text.split()) if self._spelling else text
        except BaseException:
            logger.warning("discarding a pocketsphinx decoder that failed mid-call")
            self._pool.put(self._pool.detach(self), healthy=False)
            raise
        self._pool.checkin(self)

    def _catch_up(self, grant: _Grant) -> None:
        """Bring the granted decoder up to all of the kept PCM."""
        decoder = grant.decoder
        if grant.new:
            if grant.dirty:
                decoder.end_utt()  # another sentence's utterance, abandoned
            # A fresh front end (noise estimate, cepstral mean and its accumulators) per
            # utterance: a pooled decoder would otherwise carry the previous sentence's channel
            # into this one, and the same audio could decode differently depending on which
            # decoder the pool handed out.
            decoder.reinit_feat()
            decoder.start_utt()
            self._fed = 0
        if len(self._pcm) > self._fed:
            decoder.process_raw(bytes(self._pcm[self._fed :]), False, False)
            self._fed = len(self._pcm)

    def _check(self, action: str) -> None:
        if self._closed:
            raise RuntimeError(f"cannot {action}(): utterance is closed")
        if self._ended:
            raise RuntimeError(f"cannot {action}(): utterance has ended")


def _decode_with_own_mean(decoder: Decoder, pcm: bytes) -> None:
    """Decode ``pcm`` again, normalised by its own cepstral mean (batch CMN).

    The streaming pass can only subtract the model's initial mean, which is
    far off for channels unlike the training data: on 8 kHz audio upsampled
    to 16 kHz a grammar search then fails on 5 of the 6 fixtures.  The
    accumulators started empty (``reinit_feat``), so ``get_cmn(True)`` now
    yields this utterance's own mean (recency-weighted past ~8 s).
    """
    mean = decoder.get_cmn(True)
    decoder.reinit_feat()
    decoder.set_cmn(mean)
    decoder.start_utt()
    decoder.process_raw(pcm, False, False)
    decoder.end_utt()


def _hyp_text(decoder: Decoder) -> str:
    hyp = decoder.hyp()
    return " ".join(clean_words(hyp.hypstr.split())) if hyp is not None else ""


def _segment_words(decoder: Decoder) -> list[tuple[str, int, int]]:
    words: list[tuple[str, int, int]] = []
    # seg() is None, not empty, when a grammar search ends outside the grammar.
    for seg in decoder.seg() or ():
        cleaned = clean_words([seg.word])
        if cleaned:
            words.append((cleaned[0], seg.start_frame * FRAME_MS, (seg.end_frame + 1) * FRAME_MS))
    return words
