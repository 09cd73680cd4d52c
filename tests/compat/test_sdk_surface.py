"""compat's names and signatures against the installed official SDK's (dashscope 2.0.2).

Parity is computed from the SDK itself (``dashscope.audio.asr.__all__``, the signature of
its ``Recognition``), so a program written for it finds every name and positional parameter.
"""

from __future__ import annotations

import inspect
from http import HTTPStatus
from typing import Any

import dashscope as sdk
import pytest
from dashscope.audio import asr as sdk_asr

import funasr_realtime.compat as compat
from funasr_realtime import FunAsrError
from funasr_realtime.compat import NotProvidedError
from funasr_realtime.compat._unsupported import NOT_PROVIDED
from funasr_realtime.server.thread import ServerThread
from tests.compat.fake_servers import recording_server
from tests.conftest import load_speech

pytestmark = pytest.mark.timeout(120)

S1 = load_speech("s1")
SDK_NAMES = list(sdk_asr.__all__)
#: What compat implements of the SDK's names; every other one must be a stub.
IMPLEMENTED = {
    "Recognition",
    "RecognitionCallback",
    "RecognitionResult",
    "VocabularyService",
    "VocabularyServiceException",
}
STUBS = {stub.__name__: stub for stub in NOT_PROVIDED}


def star_import(module: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(f"from {module} import *", namespace)
    del namespace["__builtins__"]
    return namespace


def test_star_import_brings_every_name_the_sdk_exports() -> None:
    namespace = star_import("funasr_realtime.compat")
    assert set(SDK_NAMES) <= set(namespace), f"missing: {sorted(set(SDK_NAMES) - set(namespace))}"
    # Beyond the SDK's names, only the two exceptions its Recognition raises.
    assert set(namespace) - set(SDK_NAMES) == {"InputDataRequired", "InvalidParameter"}


def test_the_dashscope_audio_asr_layout_is_there() -> None:
    dashscope = compat  # import funasr_realtime.compat as dashscope
    assert dashscope.audio.asr.Recognition is compat.Recognition
    assert dashscope.audio.asr.__all__ == SDK_NAMES
    namespace = star_import("funasr_realtime.compat.audio.asr")
    assert set(namespace) == set(SDK_NAMES)
    assert all(namespace[name] is getattr(compat, name) for name in SDK_NAMES)


def test_each_sdk_name_is_implemented_or_a_stub() -> None:
    assert set(SDK_NAMES) == IMPLEMENTED | set(STUBS)
    for name in IMPLEMENTED:
        assert getattr(compat, name) not in STUBS.values()
    for name, stub in STUBS.items():
        assert getattr(compat, name) is stub


@pytest.mark.parametrize("name", sorted(STUBS))
def test_a_stub_fails_clearly_when_called(name: str) -> None:
    stub = getattr(compat, name)
    with pytest.raises(NotProvidedError) as caught:
        stub()
    message = str(caught.value)
    assert message.startswith(f"{name} (")
    assert "not provided by funasr_realtime.compat" in message
    assert "use the dashscope SDK" in message
    assert isinstance(caught.value, FunAsrError) and isinstance(caught.value, NotImplementedError)
    assert "yet" not in message  # what compat leaves out stays out


@pytest.mark.parametrize("name", sorted(STUBS))
def test_a_stub_fails_clearly_on_each_public_attribute_of_the_sdks_class(name: str) -> None:
    stub = getattr(compat, name)
    public = [attr for attr in vars(getattr(sdk_asr, name)) if not attr.startswith("_")]
    for attr in public:  # e.g. Transcription.async_call, AsrPhraseManager.create_phrases
        with pytest.raises(NotProvidedError, match=name):
            getattr(stub, attr)
    assert not hasattr(stub, "__wrapped__")  # introspection sees a plain class


def test_a_stub_can_be_subclassed_and_caught() -> None:
    class Callback(compat.TranslationRecognizerCallback):
        pass  # defining it is fine: a module that never uses Gummy still imports

    with pytest.raises(NotProvidedError, match="TranslationRecognizerCallback"):
        Callback()
    try:
        raise ValueError("not a vocabulary error")
    except compat.VocabularyServiceException:  # a valid except clause (a real class now), not matched
        pytest.fail("a ValueError is not a vocabulary error")
    except ValueError:
        pass


# --------------------------------------------------------------------------- positional parameters


def positional(recognition: type) -> list[tuple[str, Any]]:
    parameters = list(inspect.signature(recognition.__init__).parameters.values())[1:]
    return [(p.name, p.default) for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


def test_positional_parameters_are_the_sdks() -> None:
    assert positional(compat.Recognition) == positional(sdk_asr.Recognition)
    assert len(positional(compat.Recognition)) == 11


#: SDK 2.0.2's named recognition parameters after ``workspace``, as positional values.
VALUES = (True, False, 2, True, "badword", False)


def test_positional_values_are_sent_as_the_sdk_sends_them(
    settings: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [name for name, _ in positional(sdk_asr.Recognition)][5:]
    sent = []
    for library in (compat, sdk_asr):
        with recording_server() as (url, received):
            settings.setattr(compat, "base_websocket_api_url", url)
            monkeypatch.setattr(sdk, "base_websocket_api_url", url)
            monkeypatch.setattr(sdk, "api_key", "any")
            result = library.Recognition("fun-asr-realtime", None, "wav", 16000, None, *VALUES).call(str(S1.path))
            assert result.status_code == HTTPStatus.OK
            [run_task] = received
        parameters = run_task["payload"]["parameters"]
        sent.append({name: parameters.get(name) for name in names})
    assert sent[0] == sent[1] == dict(zip(names, VALUES, strict=True))


def test_positional_construction_recognizes_speech(local: str, grammar_server: ServerThread) -> None:
    recognition = compat.Recognition("fun-asr-realtime", None, "wav", 16000, None, None, False, 1)
    result = recognition.call(S1.path)
    assert result.status_code == HTTPStatus.OK
    assert [s["text"] for s in result.get_sentence()] == [S1.text]
