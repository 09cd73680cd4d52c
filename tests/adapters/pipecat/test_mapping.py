"""The service's tables and bookkeeping, without a pipeline: error categories, transcript state."""

from __future__ import annotations

import pytest
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat_funasr_realtime._errors import CATEGORIES, error_category
from pipecat_funasr_realtime._transcript import FinalizeTracker, PartialFilter, TaskLanguages
from pipecat_funasr_realtime.settings import is_spaceless, target_sample_rate

import funasr_realtime as fr

K = fr.ErrorKind

# --------------------------------------------------------------------------- error categories


def test_every_kind_has_a_category() -> None:
    assert set(CATEGORIES) == set(fr.ErrorKind)


def test_a_permanent_pipecat_category_is_only_given_to_a_permanent_kind() -> None:
    for kind, category in CATEGORIES.items():
        if category is not None and category.is_permanent:
            assert not kind.retryable, kind


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (fr.HandshakeRejected(401), ErrorCategory.AUTHENTICATION),
        (fr.HandshakeRejected(402), ErrorCategory.QUOTA),
        (fr.HandshakeRejected(403), ErrorCategory.AUTHORIZATION),
        (fr.HandshakeRejected(404), ErrorCategory.INVALID_REQUEST),
        (fr.HandshakeRejected(408), ErrorCategory.CONNECTIVITY),
        (fr.HandshakeRejected(429), ErrorCategory.RATE_LIMIT),
        (fr.HandshakeRejected(503), ErrorCategory.SERVER),
        (fr.TaskFailedError("InvalidApiKey", "x"), ErrorCategory.AUTHENTICATION),
        (fr.TaskFailedError("Model.AccessDenied", "x"), ErrorCategory.AUTHORIZATION),
        (fr.TaskFailedError("Arrearage", "x"), ErrorCategory.QUOTA),
        (fr.TaskFailedError("AllocationQuota.FreeTierOnly", "x"), ErrorCategory.QUOTA),
        (fr.TaskFailedError("ModelNotFound", "x"), ErrorCategory.INVALID_REQUEST),
        (fr.TaskFailedError("InvalidParameter", "x"), ErrorCategory.INVALID_REQUEST),
        (fr.TaskFailedError("NO_VALID_AUDIO_ERROR", "x"), ErrorCategory.INVALID_REQUEST),
        (fr.TaskFailedError("Throttling.RateQuota", "x"), ErrorCategory.RATE_LIMIT),
        (fr.TaskFailedError("InternalError", "x"), ErrorCategory.SERVER),
        (fr.TaskFailedError("ModelServingError", "x"), ErrorCategory.SERVER),
        (fr.TaskFailedError("CLIENT_ERROR", "request timeout after 23 seconds."), ErrorCategory.CONNECTIVITY),
        (fr.ConfigurationError("bad rate"), ErrorCategory.INVALID_REQUEST),
        (fr.LocalProtocolError("task is idle"), ErrorCategory.INVALID_REQUEST),
        (fr.RemoteProtocolError("bad json"), ErrorCategory.SERVER),
        (fr.ConnectionClosed(1008, "policy"), ErrorCategory.SERVER),
        (fr.ConnectionClosed(1006), ErrorCategory.CONNECTIVITY),
        (fr.ConnectError("refused"), ErrorCategory.CONNECTIVITY),
        (fr.TransportTimeout("task-started", 2), ErrorCategory.CONNECTIVITY),
        (fr.AudioDropped(300), ErrorCategory.CONNECTIVITY),
        (fr.FunAsrError("other"), None),
    ],
    ids=repr,
)
def test_core_errors_map_to_pipecat_categories(error: fr.FunAsrError, category: ErrorCategory | None) -> None:
    assert error_category(error) is category


def test_other_exceptions_are_left_to_pipecat() -> None:
    assert error_category(TimeoutError()) is None
    assert error_category(ValueError("x")) is None


# --------------------------------------------------------------------------- finalize bookkeeping


def final(begin: int, text: str = "words") -> fr.Sentence:
    return fr.Sentence(text=text, begin_time=begin, end_time=begin + 500, sentence_end=True)


def completed(request_id: int | None, *, end_ms: int = 3000) -> fr.TaskCompleted:
    metrics = fr.TaskMetrics(task_id="t")
    return fr.TaskCompleted(metrics, request_id is not None, request_id, end_ms)


def test_the_completed_task_with_the_request_id_answers_the_request() -> None:
    tracker = FinalizeTracker()
    tracker.request(fr.FinalizeRequest(1))
    assert tracker.should_hold(), "it may be the last final of the finalized task"
    assert tracker.answered(completed(1)), "the same request id"
    assert not tracker.answered(completed(1)), "answered once"


def test_a_task_that_answers_another_request_or_none_answers_nothing() -> None:
    tracker = FinalizeTracker()
    tracker.request(fr.FinalizeRequest(2))
    assert not tracker.answered(completed(1)), "an earlier task: the request still stands"
    assert tracker.should_hold()
    assert not tracker.answered(completed(None)), "a task that was not finalized (idle finish)"
    assert tracker.should_hold()
    assert not tracker.answered(completed(3)), "a later request: this one was settled unanswered"
    assert not tracker.should_hold(), "settled: nothing stands any more"


def test_a_request_no_longer_stands_once_the_user_spoke_again() -> None:
    tracker = FinalizeTracker()
    tracker.request(fr.FinalizeRequest(1))
    tracker.new_utterance()
    assert not tracker.answered(completed(1))


def test_a_final_is_held_only_while_a_request_stands() -> None:
    tracker = FinalizeTracker()
    assert not tracker.should_hold(), "no request"
    tracker.request(fr.FinalizeRequest(1))
    assert tracker.should_hold()
    tracker.answered(completed(1))
    assert not tracker.should_hold(), "a final of the next task"


def test_the_held_final_is_released_once() -> None:
    tracker = FinalizeTracker()
    sentence = final(100)
    tracker.hold(sentence)
    assert tracker.holding
    assert tracker.release() is sentence
    assert not tracker.holding and tracker.release() is None


def test_forget_and_reset() -> None:
    tracker = FinalizeTracker()
    tracker.request(fr.FinalizeRequest(1))
    tracker.forget()
    assert not tracker.answered(completed(1))
    tracker.request(fr.FinalizeRequest(2))
    tracker.hold(final(100))
    tracker.reset()
    assert not tracker.holding and not tracker.answered(completed(2))


# --------------------------------------------------------------------------- languages and partials


def test_each_transcript_gets_the_language_its_task_started_with() -> None:
    languages = TaskLanguages(None)
    languages.mark(2000, None)  # no change: no new entry
    languages.mark(5000, Language.EN)
    assert languages.at(final(1000)) is None
    assert languages.at(final(6000)) is Language.EN
    languages.reset(Language.ZH)
    assert languages.at(final(0)) is Language.ZH


def test_a_partial_that_repeats_the_last_one_is_dropped() -> None:
    partials = PartialFilter()
    first = fr.Sentence(text="hel", begin_time=0, sentence_id=1)
    assert partials.is_new(first)
    assert not partials.is_new(fr.Sentence(text="hel", begin_time=0, sentence_id=1))
    assert partials.is_new(fr.Sentence(text="hello", begin_time=0, sentence_id=1))
    partials.reset()
    assert partials.is_new(fr.Sentence(text="hello", begin_time=0, sentence_id=1))


# --------------------------------------------------------------------------- options


def test_the_rate_sent_to_fun_asr() -> None:
    assert target_sample_rate("fun-asr-realtime", explicit=None, pipeline_rate=48000) == 16000
    assert target_sample_rate("fun-asr-flash-8k-realtime", explicit=None, pipeline_rate=16000) == 8000
    assert target_sample_rate("paraformer-realtime-v2", explicit=None, pipeline_rate=24000) == 24000
    assert target_sample_rate("fun-asr-realtime", explicit=8000, pipeline_rate=16000) == 8000
    assert target_sample_rate("a-future-model", explicit=None, pipeline_rate=48000) == 16000


def test_the_spacing_test_is_the_cores() -> None:
    assert is_spaceless is fr.is_unspaced
