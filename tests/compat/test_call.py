"""``Recognition.call()``: whole files, every format, file checks, and errors as results."""

from __future__ import annotations

import logging
import re
from array import array
from http import HTTPStatus
from pathlib import Path

import pytest

import funasr_realtime.compat as dashscope
from funasr_realtime import AudioError, ConfigurationError
from funasr_realtime.compat import InputDataRequired, InvalidParameter, Recognition
from funasr_realtime.compat.recognition import NOT_MEASURED
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import STRICT_KEY, Recorder, unused_url
from tests.conftest import SPEECH, load_speech

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")


def wav_recognition(**options: object) -> Recognition:
    return Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None, **options)


def test_call_returns_the_final_sentences_with_words_usage_and_ids(local: str) -> None:
    recognition = wav_recognition()
    result = recognition.call(str(S1.path))

    assert result.status_code == HTTPStatus.OK
    assert (result.code, result.message) == ("", "")
    sentences = result.get_sentence()
    assert isinstance(sentences, list)
    [sentence] = sentences
    assert sentence["text"] == S1.text
    assert 0 <= sentence["begin_time"] < sentence["end_time"] <= S1.duration_ms
    assert [w["text"] for w in sentence["words"]] == S1.text.split()
    assert set(sentence["words"][0]) >= {"begin_time", "end_time", "text", "punctuation"}
    assert result.get_usage(sentence) == {"duration": 3}
    assert result.usage == {"duration": 3}
    assert re.fullmatch(r"[0-9a-f]{32}", result.get_request_id())
    assert recognition.get_last_request_id() == result.get_request_id()
    assert recognition.get_first_package_delay() > 0
    assert recognition.get_last_package_delay() > 0
    assert recognition.get_response() is result


@pytest.mark.parametrize(
    ("name", "format"),
    [("s1.mp3", "mp3"), ("s1.aac", "aac"), ("s1.amr", "amr"), ("s1.opus", "opus"), ("s1.spx", "speex")],
)
def test_every_compressed_format_gives_the_wav_text(local: str, name: str, format: str) -> None:
    recognition = Recognition(model="fun-asr-realtime", format=format, sample_rate=16000, callback=None)
    result = recognition.call(FORMATS / name)
    assert result.status_code == HTTPStatus.OK, result.message
    assert [s["text"] for s in result.get_sentence()] == [S1.text]


def test_each_call_uses_a_new_task_id(local: str) -> None:
    recognition = wav_recognition()
    first = recognition.call(str(S1.path)).get_request_id()
    second = recognition.call(str(S1.path)).get_request_id()
    assert first != second
    assert recognition.get_last_request_id() == second


@pytest.mark.parametrize(
    ("path", "error", "fragment"),
    [
        (SPEECH / "missing.wav", FileNotFoundError, "missing.wav"),
        (SPEECH, IsADirectoryError, "Is a directory"),
        (FORMATS / "empty.wav", InputDataRequired, "empty"),
        (FORMATS / "mp3_named.wav", AudioError, "declared wav but the content is MP3"),
        (SPEECH / "sentences.jsgf", AudioError, "not a recognizable audio file"),
    ],
    ids=["missing", "directory", "empty", "mp3-named-wav", "not-audio"],
)
def test_bad_files_are_refused_before_connecting(
    settings: pytest.MonkeyPatch, path: Path, error: type[Exception], fragment: str
) -> None:
    # Nothing listens at this URL: a connection attempt would be reported, not raised.
    settings.setattr(dashscope, "base_websocket_api_url", unused_url())
    recognition = wav_recognition()
    with pytest.raises(error, match=re.escape(fragment)):
        recognition.call(path)
    assert recognition.get_last_request_id() == "", "no task was started"
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has stopped\.$"):
        recognition.stop()  # not left running


def test_empty_file_error_is_the_sdks_and_a_value_error(local: str) -> None:
    with pytest.raises(ValueError, match="The supplied file was empty"):
        wav_recognition().call(FORMATS / "empty.wav")


def test_a_bad_key_is_a_401_result_and_never_leaks(
    settings: pytest.MonkeyPatch, strict_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.setattr(dashscope, "base_websocket_api_url", strict_server.url)
    settings.setattr(dashscope, "api_key", "sk-wrong-key-0123456789")
    recognition = wav_recognition()
    result = recognition.call(S1.path)
    assert (result.status_code, result.code) == (401, "InvalidApiKey")
    assert "401" in result.message
    assert result.get_request_id() == ""
    for text in (caplog.text, str(result), repr(result), repr(recognition), result.message):
        assert "sk-wrong-key" not in text


def test_the_module_key_is_read_at_call_time(settings: pytest.MonkeyPatch, strict_server: ServerThread) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", strict_server.url)
    recognition = wav_recognition()
    settings.setattr(dashscope, "api_key", STRICT_KEY)
    assert recognition.call(S1.path).status_code == HTTPStatus.OK


def test_environment_supplies_key_and_url_when_the_module_does_not(
    settings: pytest.MonkeyPatch, strict_server: ServerThread
) -> None:
    settings.setenv("DASHSCOPE_API_KEY", STRICT_KEY)
    settings.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", strict_server.url)
    result = wav_recognition().call(S1.path)
    assert result.status_code == HTTPStatus.OK
    assert result.get_sentence()[0]["text"] == S1.text


def test_per_call_base_address_and_api_key_override_the_module(
    settings: pytest.MonkeyPatch, strict_server: ServerThread
) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", unused_url())
    result = wav_recognition().call(S1.path, base_address=strict_server.url, api_key=STRICT_KEY)
    assert result.status_code == HTTPStatus.OK


def test_an_unreachable_server_is_a_503_result(settings: pytest.MonkeyPatch) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", unused_url())
    result = wav_recognition().call(S1.path)
    assert (result.status_code, result.code) == (503, "ConnectError")
    assert "connect" in result.message.lower()
    assert result.get_sentence() == []


def test_the_cloud_without_a_key_is_a_configuration_error(settings: pytest.MonkeyPatch) -> None:
    # Nothing set: the SDK's default endpoint (Alibaba Cloud) needs a key; no connection is tried.
    with pytest.raises(ConfigurationError, match="api_key"):
        wav_recognition().call(S1.path)


def test_invalid_parameters_are_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="max_sentence_silence"):
        wav_recognition(max_sentence_silence=50)
    with pytest.raises(ConfigurationError, match="format"):
        Recognition(model="fun-asr-realtime", format="flac", sample_rate=16000, callback=None)


def test_sdk_parameters_are_accepted(local: str) -> None:
    recognition = Recognition(
        model="fun-asr-realtime",
        format="wav",
        sample_rate=16000,
        callback=None,
        semantic_punctuation_enabled=False,
        max_sentence_silence=800,
        multi_threshold_mode_enabled=False,
        punctuation_prediction_enabled=True,
        heartbeat=False,
        language_hints=["en"],
        speech_noise_threshold=0.0,
        disfluency_removal_enabled=False,
    )
    result = recognition.call(S1.path, phrase_id=None, inverse_text_normalization_enabled=True)
    assert result.status_code == HTTPStatus.OK
    assert result.get_sentence()[0]["text"] == S1.text


def test_getters_before_any_task_are_defined(settings: pytest.MonkeyPatch) -> None:
    recognition = wav_recognition()
    assert recognition.get_last_request_id() == ""
    assert recognition.get_first_package_delay() == NOT_MEASURED == -1.0
    assert recognition.get_last_package_delay() == NOT_MEASURED
    assert recognition.get_response() is None


def test_call_while_streaming_raises_the_sdks_error(local: str) -> None:
    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=Recorder())
    recognition.start()
    try:
        with pytest.raises(InvalidParameter, match=r"^Speech recognition has been called\.$"):
            recognition.call(S1.path)
    finally:
        recognition.stop()


# --------------------------------------------------------------------------- everyday files, converted on the client


def test_stereo_float_and_other_rates_are_converted(local: str, tmp_path: Path) -> None:
    from tests.audio.media import encode, wav_bytes, write

    floats = array("f", [v / 32767.0 for v in array("h", S1.pcm)]).tobytes()
    cases = [
        ("wav", write(tmp_path / "stereo.wav", encode(S1.pcm, "wav", rate=44100, layout="stereo"))),
        ("wav", write(tmp_path / "float.wav", wav_bytes(floats, channels=1, rate=16000, bits=32, tag=3))),
        ("wav", SPEECH / "s1_8k.wav"),
        ("mp3", write(tmp_path / "stereo.mp3", encode(S1.pcm, "mp3", rate=48000, layout="stereo"))),
        ("aac", write(tmp_path / "stereo.aac", encode(S1.pcm, "aac", rate=44100, layout="stereo"))),
        ("aac", write(tmp_path / "talk.m4a", encode(S1.pcm, "m4a", rate=44100, layout="stereo"))),
    ]
    for format, path in cases:
        recognition = Recognition(model="fun-asr-realtime", format=format, sample_rate=16000, callback=None)
        result = recognition.call(path)
        assert result.status_code == HTTPStatus.OK, (path.name, result.message)
        assert [s["text"] for s in result.get_sentence()] == [S1.text], path.name


def test_format_pcm_on_a_wav_file_is_accepted_as_the_sdk_does(local: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="funasr_realtime.compat")
    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=None)
    result = recognition.call(S1.path)
    assert result.status_code == HTTPStatus.OK
    assert [s["text"] for s in result.get_sentence()] == [S1.text]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "s1_16k.wav" in warning.getMessage() and "would have sent the header as audio" in warning.getMessage()


def test_audio_lost_in_a_reconnect_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from funasr_realtime import ConnectionClosed, RecognitionParams
    from funasr_realtime.client import ClientConfig, Reconnected
    from funasr_realtime.compat._session import FileSession
    from funasr_realtime.compat._sinks import Collector

    caplog.set_level(logging.INFO, logger="funasr_realtime.compat")
    owner = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=None)
    session = FileSession(ClientConfig(url=unused_url()), RecognitionParams(), Collector(owner), name="talk.wav")
    lost = Reconnected(ConnectionClosed(1006, "gone"), attempt=1, replayed_ms=20000, dropped_ms=2500, downtime_ms=800)
    session._on_event(lost)
    session._on_event(Reconnected(ConnectionClosed(1006, "gone"), 2, 300, 0, 100.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["talk.wav: 2500 ms of audio were lost reconnecting after: " + str(lost.error)]
    assert session.dropped_ms == 2500


def test_a_minute_of_wav_at_full_speed_with_the_default_engine(
    settings: pytest.MonkeyPatch, open_server: ServerThread, tmp_path: Path
) -> None:
    from tests.audio.media import wav_bytes, write
    from tests.audio.reference import engine_sentences, long_speech

    settings.setattr(dashscope, "base_websocket_api_url", open_server.url)
    pcm = long_speech()
    path = write(tmp_path / "long.wav", wav_bytes(pcm, channels=1, rate=16000, bits=16))
    result = wav_recognition().call(path)
    assert result.status_code == HTTPStatus.OK, result.message
    assert [s["text"] for s in result.get_sentence()] == list(engine_sentences(pcm))


@pytest.mark.parametrize("kind", ["wav", "mp3", "opus"])
def test_a_long_pause_inside_a_file_loses_nothing(local: str, tmp_path: Path, kind: str) -> None:
    from tests.audio.test_pauses import paused_file

    path = tmp_path / f"paused.{kind}"
    path.write_bytes(paused_file(kind))
    recognition = Recognition(model="fun-asr-realtime", format=kind, sample_rate=16000, callback=None)
    result = recognition.call(path)
    assert result.status_code == HTTPStatus.OK, result.message
    assert [s["text"] for s in result.get_sentence()] == [S1.text, load_speech("s2").text]
