"""Golden tests for the ACS media-streaming codec (media_worker.protocol); pure, no event loop."""

from __future__ import annotations

import base64
import json

import pytest

from media_worker import protocol
from media_worker.protocol import (
    MAX_MESSAGE_BYTES,
    SUPPORTED_SAMPLE_RATES_HZ,
    AudioData,
    AudioMetadata,
    DtmfData,
    InboundAudio,
    OutboundStyle,
    ProtocolError,
    TranscriptionData,
    TranscriptionMetadata,
    Unknown,
    encode_audio,
    encode_stop_audio,
    frame_bytes,
    parse,
)

PCM_20MS_16K = bytes(range(256)) * 2 + bytes(range(128))  # 640 bytes, recognisable content
assert len(PCM_20MS_16K) == 640


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def audio_data_json(
    pcm: bytes | None, *, silent: bool = False, participant: str | None = "4:+14255550123"
) -> str:
    payload: dict[str, object] = {"timestamp": "2024-05-01T12:00:00.000Z"}
    if participant is not None:
        payload["participantRawID"] = participant
    if pcm is not None:
        payload["data"] = b64(pcm)
    payload["silent"] = silent
    return json.dumps({"kind": "AudioData", "audioData": payload})


def metadata(rate: int) -> AudioMetadata:
    return AudioMetadata(
        subscription_id="s", encoding="PCM", sample_rate_hz=rate, channels=1, frame_bytes=frame_bytes(rate)
    )


def audio(pcm: bytes, silent: bool = False) -> AudioData:
    return AudioData(pcm=pcm, silent=silent)


# --- frame_bytes and constants ------------------------------------------------------------------------------


def test_frame_bytes_is_640_at_16k_and_960_at_24k_for_20ms() -> None:
    assert frame_bytes(16000) == 640
    assert frame_bytes(24000) == 960
    assert frame_bytes(16000, 10) == 320


def test_supported_rates_are_16k_and_24k() -> None:
    assert SUPPORTED_SAMPLE_RATES_HZ == {16000, 24000}
    assert MAX_MESSAGE_BYTES == 64 * 1024


@pytest.mark.parametrize(("rate", "ms"), [(0, 20), (-16000, 20), (16000, 0), (44101, 20)])
def test_frame_bytes_rejects_non_positive_or_fractional_sample_counts(rate: int, ms: int) -> None:
    with pytest.raises(ValueError):
        frame_bytes(rate, ms)


# --- inbound: AudioMetadata ---------------------------------------------------------------------------------


def test_audio_metadata_16k_parses_to_typed_fields() -> None:
    msg = parse(
        '{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"a1b2","encoding":"PCM",'
        '"sampleRate":16000,"channels":1,"length":640}}'
    )
    assert msg == AudioMetadata(
        subscription_id="a1b2", encoding="PCM", sample_rate_hz=16000, channels=1, frame_bytes=640
    )


def test_audio_metadata_24k_parses_with_960_byte_frames() -> None:
    msg = parse(
        '{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"x","encoding":"PCM",'
        '"sampleRate":24000,"channels":1,"length":960}}'
    )
    assert msg == AudioMetadata(
        subscription_id="x", encoding="PCM", sample_rate_hz=24000, channels=1, frame_bytes=960
    )


def test_audio_metadata_without_length_derives_a_20ms_frame_size() -> None:
    msg = parse('{"kind":"AudioMetadata","audioMetadata":{"encoding":"pcm","sampleRate":24000,"channels":1}}')
    assert isinstance(msg, AudioMetadata)
    assert msg.frame_bytes == 960
    assert msg.encoding == "PCM"
    assert msg.subscription_id is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            '"encoding":"OPUS","sampleRate":16000,"channels":1',
            r"AudioMetadata\.encoding 'OPUS' is not supported",
        ),
        ('"sampleRate":16000,"channels":1', r"AudioMetadata\.encoding is missing"),
        ('"encoding":1,"sampleRate":16000,"channels":1', r"AudioMetadata\.encoding is a number"),
        (
            '"encoding":"PCM","sampleRate":8000,"channels":1',
            r"AudioMetadata\.sampleRate 8000 is not supported",
        ),
        (
            '"encoding":"PCM","sampleRate":48000,"channels":1',
            r"AudioMetadata\.sampleRate 48000 is not supported",
        ),
        ('"encoding":"PCM","sampleRate":"16000","channels":1', r"AudioMetadata\.sampleRate is a string"),
        ('"encoding":"PCM","channels":1', r"AudioMetadata\.sampleRate is missing"),
        ('"encoding":"PCM","sampleRate":16000,"channels":2', r"AudioMetadata\.channels 2 is not supported"),
        ('"encoding":"PCM","sampleRate":16000,"channels":true', r"AudioMetadata\.channels is a boolean"),
        ('"encoding":"PCM","sampleRate":16000', r"AudioMetadata\.channels is missing"),
        ('"encoding":"PCM","sampleRate":16000,"channels":1,"length":641', r"AudioMetadata\.length 641"),
        ('"encoding":"PCM","sampleRate":16000,"channels":1,"length":0', r"AudioMetadata\.length 0"),
    ],
)
def test_unsupported_or_malformed_audio_metadata_is_a_protocol_error_naming_the_field(
    payload: str, expected: str
) -> None:
    with pytest.raises(ProtocolError, match=expected):
        parse('{"kind":"AudioMetadata","audioMetadata":{' + payload + "}}")


# --- inbound: AudioData -------------------------------------------------------------------------------------


def test_audio_data_decodes_base64_pcm_and_keeps_timestamp_and_participant() -> None:
    msg = parse(audio_data_json(PCM_20MS_16K))
    assert msg == AudioData(
        pcm=PCM_20MS_16K, silent=False, timestamp="2024-05-01T12:00:00.000Z", participant="4:+14255550123"
    )


def test_audio_data_golden_text_parses_exactly() -> None:
    msg = parse(
        '{"kind":"AudioData","audioData":{"timestamp":"2024-05-01T12:00:00.000Z",'
        '"participantRawID":"4:+14255550123","data":"AAABAP//","silent":false}}'
    )
    assert msg == AudioData(
        pcm=b"\x00\x00\x01\x00\xff\xff",
        silent=False,
        timestamp="2024-05-01T12:00:00.000Z",
        participant="4:+14255550123",
    )


def test_audio_data_without_participant_raw_id_has_no_participant() -> None:
    msg = parse(audio_data_json(PCM_20MS_16K, participant=None))
    assert isinstance(msg, AudioData)
    assert msg.participant is None
    assert msg.pcm == PCM_20MS_16K


def test_audio_data_accepts_bytes_input() -> None:
    msg = parse(audio_data_json(PCM_20MS_16K).encode("utf-8"))
    assert isinstance(msg, AudioData)
    assert msg.pcm == PCM_20MS_16K


def test_silent_audio_without_data_parses_to_empty_pcm() -> None:
    msg = parse('{"kind":"AudioData","audioData":{"timestamp":"2024-05-01T12:00:00.020Z","silent":true}}')
    assert msg == AudioData(pcm=b"", silent=True, timestamp="2024-05-01T12:00:00.020Z", participant=None)


def test_silent_audio_with_null_or_empty_data_parses_to_empty_pcm() -> None:
    assert parse('{"kind":"AudioData","audioData":{"data":null,"silent":true}}') == AudioData(b"", True)
    assert parse('{"kind":"AudioData","audioData":{"data":"","silent":true}}') == AudioData(b"", True)


def test_silent_audio_with_data_keeps_the_data() -> None:
    msg = parse(audio_data_json(b"\x01\x00\x02\x00", silent=True))
    assert isinstance(msg, AudioData)
    assert msg.pcm == b"\x01\x00\x02\x00"
    assert msg.silent is True


def test_audio_data_missing_silent_counts_as_not_silent() -> None:
    msg = parse('{"kind":"AudioData","audioData":{"data":"AAA="}}')
    assert msg == AudioData(pcm=b"\x00\x00", silent=False)


def test_audio_data_non_string_timestamp_or_participant_is_dropped_not_fatal() -> None:
    msg = parse('{"kind":"AudioData","audioData":{"data":"AAA=","timestamp":12,"participantRawID":{"a":1}}}')
    assert msg == AudioData(pcm=b"\x00\x00", silent=False, timestamp=None, participant=None)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('"data":"not base64!!","silent":false', r"^AudioData\.data is not valid base64$"),
        ('"data":"AAA","silent":false', r"^AudioData\.data is not valid base64$"),  # missing padding
        ('"data":"AA\\nAA","silent":false', r"^AudioData\.data is not valid base64$"),
        ('"data":"ÄÖ==","silent":false', r"^AudioData\.data is not valid base64$"),
        ('"data":"AAAA","silent":false', r"AudioData\.data decodes to 3 bytes, an odd length"),
        ('"data":12,"silent":false', r"AudioData\.data is a number, not a base64 string"),
        ('"silent":false', r"AudioData\.data is missing"),
        ('"timestamp":"t"', r"AudioData\.data is missing"),
        ('"data":"AAA=","silent":"yes"', r"AudioData\.silent is a string, not a boolean"),
    ],
)
def test_malformed_audio_data_is_a_protocol_error_naming_the_field(payload: str, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected):
        parse('{"kind":"AudioData","audioData":{' + payload + "}}")


def test_bad_base64_error_does_not_echo_the_data() -> None:
    with pytest.raises(ProtocolError) as info:
        parse('{"kind":"AudioData","audioData":{"data":"SECRETSECRET!","silent":false}}')
    assert "SECRET" not in str(info.value)


# --- inbound: DtmfData --------------------------------------------------------------------------------------


def test_dtmf_data_parses_the_digit() -> None:
    assert parse('{"kind":"DtmfData","dtmfData":{"data":"5"}}') == DtmfData(digit="5")


@pytest.mark.parametrize(
    ("sent", "digit"),
    [("#", "#"), ("*", "*"), ("a", "A"), ("D", "D"), ("five", "5"), ("pound", "#"), ("Asterisk", "*")],
)
def test_dtmf_tone_names_and_letters_normalise_to_one_character(sent: str, digit: str) -> None:
    assert parse(json.dumps({"kind": "DtmfData", "dtmfData": {"data": sent}})) == DtmfData(digit=digit)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("{}", r"DtmfData\.data is missing"),
        ('{"data":5}', r"DtmfData\.data is a number, not a string"),
        ('{"data":"E"}', r"DtmfData\.data 'E' is not a DTMF tone"),
        ('{"data":"55"}', r"DtmfData\.data '55' is not a DTMF tone"),
        ('{"data":""}', r"DtmfData\.data '' is not a DTMF tone"),
    ],
)
def test_malformed_dtmf_data_is_a_protocol_error(payload: str, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected):
        parse('{"kind":"DtmfData","dtmfData":' + payload + "}")


# --- inbound: transcription ---------------------------------------------------------------------------------


def test_transcription_metadata_parses_all_ids() -> None:
    msg = parse(
        '{"kind":"TranscriptionMetadata","transcriptionMetadata":{"subscriptionId":"sub","locale":"en-us",'
        '"callConnectionId":"cc-1","correlationId":"corr-1"}}'
    )
    assert msg == TranscriptionMetadata(
        subscription_id="sub", locale="en-us", call_connection_id="cc-1", correlation_id="corr-1"
    )


def test_transcription_data_final_parses_ticks_confidence_and_participant() -> None:
    msg = parse(
        '{"kind":"TranscriptionData","transcriptionData":{"text":"Hello.","format":"display","confidence":0.69,'
        '"offset":2516998782481234400,"duration":12345678,'
        '"words":[{"text":"hello","offset":2516998782481234400,"duration":5000000}],'
        '"participantRawID":"8:acs:abc","resultStatus":"Final"}}'
    )
    assert msg == TranscriptionData(
        text="Hello.",
        final=True,
        confidence=0.69,
        offset_ticks=2516998782481234400,
        duration_ticks=12345678,
        participant="8:acs:abc",
    )


def test_transcription_data_intermediate_is_not_final_and_optional_fields_default_to_none() -> None:
    msg = parse(
        '{"kind":"TranscriptionData","transcriptionData":{"text":"hel","resultStatus":"Intermediate"}}'
    )
    assert msg == TranscriptionData(
        text="hel", final=False, confidence=None, offset_ticks=None, duration_ticks=None, participant=None
    )


def test_transcription_data_without_text_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"TranscriptionData\.text is missing"):
        parse('{"kind":"TranscriptionData","transcriptionData":{"resultStatus":"Final"}}')


# --- inbound: leniency --------------------------------------------------------------------------------------


def test_unknown_fields_are_ignored_at_every_level() -> None:
    msg = parse(
        '{"kind":"TranscriptionData","transcriptionData":{"text":"Hi","resultStatus":"Final",'
        '"sentimentAnalysisResult":{"sentiment":"positive"},"languageIdentified":"en-US",'
        '"piiRedactionOptions":{}},"extra":[1,2,3]}'
    )
    assert isinstance(msg, TranscriptionData)
    assert msg.text == "Hi"
    assert msg.final


@pytest.mark.parametrize(
    "text",
    [
        '{"Kind":"AudioData","AudioData":{"Data":"AAA=","Silent":false,"ParticipantRawID":"p"}}',
        '{"kind":"audioData","audioData":{"data":"AAA=","silent":false,"participantRawId":"p"}}',
        '{"KIND":"AUDIODATA","AUDIODATA":{"DATA":"AAA=","SILENT":false,"PARTICIPANTRAWID":"p"}}',
    ],
)
def test_key_names_and_kind_values_match_case_insensitively(text: str) -> None:
    assert parse(text) == AudioData(pcm=b"\x00\x00", silent=False, participant="p")


def test_exact_key_spelling_wins_over_a_case_variant() -> None:
    msg = parse('{"kind":"DtmfData","dtmfData":{"Data":"1","data":"2"}}')
    assert msg == DtmfData(digit="2")


def test_unknown_kind_is_returned_as_unknown_not_raised() -> None:
    assert parse('{"kind":"SomethingNew","somethingNew":{"x":1}}') == Unknown(kind="SomethingNew")
    assert parse('{"kind":"NoPayload"}') == Unknown(kind="NoPayload")


# --- inbound: malformed envelopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", r"^message is not valid JSON \("),
        ("", r"^message is not valid JSON \("),
        ('{"kind":"AudioData",', r"^message is not valid JSON \("),
        ('{"kind":"DtmfData","dtmfData":{"data":NaN}}', r"^message is not valid JSON \(NaN"),
        ("[1, 2]", r"^message is an array, not a JSON object$"),
        ("42", r"^message is a number, not a JSON object$"),
        ('"AudioData"', r"^message is a string, not a JSON object$"),
        ("null", r"^message is null, not a JSON object$"),
        ('{"audioData":{"data":"AAA="}}', r"^message has no 'kind' field$"),
        ('{"kind":7,"audioData":{}}', r"^message 'kind' is a number, not a string$"),
        ('{"kind":null}', r"^message 'kind' is null, not a string$"),
        ('{"kind":""}', r"^message 'kind' is empty$"),
        ('{"kind":"AudioData"}', r"^AudioData message has no 'audioData' object$"),
        ('{"kind":"AudioMetadata","audioData":{}}', r"^AudioMetadata message has no 'audioMetadata' object$"),
        ('{"kind":"AudioData","audioData":null}', r"^AudioData\.audioData is null, not an object$"),
        ('{"kind":"DtmfData","dtmfData":"5"}', r"^DtmfData\.dtmfData is a string, not an object$"),
        ('{"kind":"TranscriptionMetadata","transcriptionMetadata":[]}', r"is an array, not an object$"),
    ],
)
def test_malformed_envelope_is_a_protocol_error_with_a_specific_message(text: str, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected):
        parse(text)


def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse("[" * 30000 + "]" * 30000)


def test_bytes_that_are_not_utf8_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"^message is not valid UTF-8 \(bad byte at offset 9\)$"):
        parse(b'{"kind":"\xff"}')


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_oversized_message_is_rejected_before_json_parsing() -> None:
    # Not valid JSON either: the size error must come first, proving json.loads never ran.
    text = "x" * (MAX_MESSAGE_BYTES + 1)
    with pytest.raises(ProtocolError, match=rf"^message is {MAX_MESSAGE_BYTES + 1} bytes, larger than the"):
        parse(text)
    with pytest.raises(ProtocolError, match="larger than the"):
        parse(text.encode())


def test_message_exactly_at_the_limit_is_accepted() -> None:
    text = '{"kind":"DtmfData","dtmfData":{"data":"1"}}'
    assert parse(text, max_bytes=len(text)) == DtmfData("1")
    with pytest.raises(ProtocolError, match="larger than the"):
        parse(text, max_bytes=len(text) - 1)


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    text = json.dumps({"kind": "Other", "note": "é" * 10}, ensure_ascii=False)
    with pytest.raises(ProtocolError, match="larger than the"):
        parse(text, max_bytes=len(text) + 5)  # 10 extra bytes for the 10 two-byte characters
    assert parse(text, max_bytes=len(text) + 10) == Unknown("Other")


def test_module_level_limit_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 10)
    with pytest.raises(ProtocolError, match="larger than the 10-byte limit"):
        parse('{"kind":"DtmfData","dtmfData":{"data":"1"}}')


def test_parse_rejects_non_text_argument_with_type_error() -> None:
    with pytest.raises(TypeError):
        parse(123)  # type: ignore[arg-type]


# --- reprs --------------------------------------------------------------------------------------------------


def test_audio_data_repr_shows_byte_count_not_audio_or_base64() -> None:
    msg = parse(audio_data_json(PCM_20MS_16K))
    text = repr(msg)
    assert "<640 bytes>" in text
    assert b64(PCM_20MS_16K)[:16] not in text
    assert "\\x" not in text
    assert "pcm=b" not in text
    assert str(msg) == text


def test_inbound_audio_repr_shows_pending_byte_count_only() -> None:
    framer = InboundAudio(metadata(16000))
    framer.feed(audio(b"\x07\x00" * 10))
    assert repr(framer) == "InboundAudio(sample_rate_hz=16000, frame_bytes=640, pending=<20 bytes>)"


def test_messages_are_slotted_and_immutable() -> None:
    msg = AudioData(pcm=b"", silent=True)
    assert not hasattr(msg, "__dict__")
    with pytest.raises(AttributeError):
        msg.silent = False  # type: ignore[misc]


# --- InboundAudio -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 24000])
def test_whole_packets_pass_through_as_exact_frames(rate: int) -> None:
    size = frame_bytes(rate)
    framer = InboundAudio(metadata(rate))
    pcm = bytes([1, 2]) * (size // 2)
    assert framer.feed(audio(pcm)) == [pcm]
    assert framer.pending_bytes == 0
    assert framer.flush() == []


@pytest.mark.parametrize(("rate", "size"), [(16000, 640), (24000, 960)])
def test_silent_audio_without_data_becomes_a_frame_of_zeros(rate: int, size: int) -> None:
    framer = InboundAudio(metadata(rate))
    assert framer.frame_bytes == size
    assert framer.feed(AudioData(pcm=b"", silent=True)) == [bytes(size)]


def test_silent_audio_parsed_from_the_wire_becomes_zeros_at_24k() -> None:
    meta = parse(
        '{"kind":"AudioMetadata","audioMetadata":{"encoding":"PCM","sampleRate":24000,"channels":1}}'
    )
    assert isinstance(meta, AudioMetadata)
    framer = InboundAudio(meta)
    msg = parse('{"kind":"AudioData","audioData":{"silent":true}}')
    assert isinstance(msg, AudioData)
    assert framer.feed(msg) == [bytes(960)]


def test_silent_audio_with_data_uses_the_data_as_sent() -> None:
    framer = InboundAudio(metadata(16000))
    noise = b"\x03\x00" * 320
    assert framer.feed(audio(noise, silent=True)) == [noise]


def test_empty_non_silent_audio_yields_nothing() -> None:
    framer = InboundAudio(metadata(16000))
    assert framer.feed(audio(b"")) == []
    assert framer.flush() == []


def test_partial_packets_are_buffered_until_a_frame_is_complete() -> None:
    framer = InboundAudio(metadata(16000))
    first, second = b"\x01\x00" * 100, b"\x02\x00" * 220  # 200 + 440 = 640
    assert framer.feed(audio(first)) == []
    assert framer.pending_bytes == 200
    assert framer.feed(audio(second)) == [first + second]
    assert framer.pending_bytes == 0


def test_a_large_packet_splits_into_several_exact_frames_and_buffers_the_rest() -> None:
    framer = InboundAudio(metadata(16000))
    pcm = bytes(i % 251 for i in range(640 * 3 + 100))
    frames = framer.feed(audio(pcm))
    assert frames == [pcm[0:640], pcm[640:1280], pcm[1280:1920]]
    assert framer.pending_bytes == 100
    assert framer.flush() == [pcm[1920:] + bytes(540)]


def test_flush_pads_a_trailing_partial_frame_with_zeros_and_never_drops_it() -> None:
    framer = InboundAudio(metadata(24000))
    tail = b"\x09\x00" * 10
    framer.feed(audio(tail))
    assert framer.flush() == [tail + bytes(960 - 20)]
    assert framer.pending_bytes == 0
    assert framer.flush() == []


def test_silence_after_a_partial_frame_completes_it_in_order() -> None:
    framer = InboundAudio(metadata(16000))
    partial = b"\x05\x00" * 160  # 320 bytes
    assert framer.feed(audio(partial)) == []
    assert framer.feed(AudioData(pcm=b"", silent=True)) == [partial + bytes(320)]
    assert framer.pending_bytes == 320  # the rest of the 20 ms of silence, still in place on the timeline
    assert framer.feed(audio(b"\x06\x00" * 160)) == [bytes(320) + b"\x06\x00" * 160]


def test_frames_come_out_in_strict_arrival_order_across_mixed_packets() -> None:
    framer = InboundAudio(metadata(16000))
    stream: list[bytes] = []
    sent = bytearray()
    sizes = [640, 100, 540, 0, 1280, 2, 638, 320, 1000]
    for n, size in enumerate(sizes):
        # Each packet's samples carry its sequence number, so any reordering shows.
        pcm = bytes([n + 1, 0]) * (size // 2)
        sent += pcm
        stream += framer.feed(audio(pcm))
    stream += framer.flush()
    assert all(len(frame) == 640 for frame in stream)
    joined = b"".join(stream)
    assert joined[: len(sent)] == bytes(sent)
    assert joined[len(sent) :] == bytes(len(joined) - len(sent))


def test_whole_frame_after_buffered_partial_is_not_reordered() -> None:
    framer = InboundAudio(metadata(16000))
    a, b = b"\x01\x00" * 50, b"\x02\x00" * 320
    assert framer.feed(audio(a)) == []
    assert framer.feed(audio(b)) == [a + b[:540]]
    assert framer.flush() == [b[540:] + bytes(540)]


# --- outbound -----------------------------------------------------------------------------------------------


def test_encode_audio_pascal_is_the_exact_python_sample_form() -> None:
    assert encode_audio(b"\x00\x00\x01\x00\xff\xff") == (
        '{"Kind":"AudioData","AudioData":{"Data":"AAABAP//"},"StopAudio":null}'
    )
    assert encode_audio(b"\x00\x00", OutboundStyle.PASCAL) == (
        '{"Kind":"AudioData","AudioData":{"Data":"AAA="},"StopAudio":null}'
    )


def test_encode_audio_camel_is_the_exact_js_sdk_form() -> None:
    assert encode_audio(b"\x00\x00\x01\x00\xff\xff", OutboundStyle.CAMEL) == (
        '{"kind":"audioData","audioData":{"data":"AAABAP//"},"stopAudio":null}'
    )


def test_encode_stop_audio_exact_strings_for_both_styles() -> None:
    assert encode_stop_audio() == '{"Kind":"StopAudio","AudioData":null,"StopAudio":{}}'
    assert encode_stop_audio(OutboundStyle.CAMEL) == '{"kind":"stopAudio","audioData":null,"stopAudio":{}}'


@pytest.mark.parametrize("size", [640, 960, 2])
def test_encode_audio_round_trips_through_json_loads(size: int) -> None:
    pcm = bytes(i % 256 for i in range(size))
    pascal = json.loads(encode_audio(pcm))
    assert pascal == {"Kind": "AudioData", "AudioData": {"Data": b64(pcm)}, "StopAudio": None}
    assert base64.b64decode(pascal["AudioData"]["Data"]) == pcm
    camel = json.loads(encode_audio(pcm, OutboundStyle.CAMEL))
    assert camel == {"kind": "audioData", "audioData": {"data": b64(pcm)}, "stopAudio": None}


def test_encode_stop_audio_round_trips_through_json_loads() -> None:
    assert json.loads(encode_stop_audio()) == {"Kind": "StopAudio", "AudioData": None, "StopAudio": {}}
    assert json.loads(encode_stop_audio(OutboundStyle.CAMEL)) == {
        "kind": "stopAudio",
        "audioData": None,
        "stopAudio": {},
    }


def test_encode_audio_matches_json_dumps_of_the_same_dict() -> None:
    pcm = bytes(range(256)) * 3 + b"\x00\x01"
    expected = json.dumps(
        {"Kind": "AudioData", "AudioData": {"Data": b64(pcm)}, "StopAudio": None}, separators=(",", ":")
    )
    assert encode_audio(pcm) == expected


def test_encode_audio_accepts_bytearray_and_memoryview() -> None:
    assert encode_audio(bytearray(b"\x00\x00")) == encode_audio(b"\x00\x00")
    assert encode_audio(memoryview(b"\x00\x00")) == encode_audio(b"\x00\x00")  # type: ignore[arg-type]


@pytest.mark.parametrize("pcm", [b"", b"\x00", b"\x00\x00\x00"])
def test_encode_audio_rejects_empty_or_odd_length_pcm(pcm: bytes) -> None:
    with pytest.raises(ValueError, match="even number of PCM16 bytes"):
        encode_audio(pcm)


def test_outbound_audio_parses_back_with_the_inbound_codec() -> None:
    # Our parser is case-insensitive, so the outbound PascalCase form reads back as the same audio.
    for style in OutboundStyle:
        msg = parse(encode_audio(PCM_20MS_16K, style))
        assert msg == AudioData(pcm=PCM_20MS_16K, silent=False)
