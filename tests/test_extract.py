"""Tables for agents.extract: many phrasings per type, whisper-style transcripts included.

``TODAY`` is Friday 2026-03-06, so "yesterday" is 2026-03-05 and "last Tuesday" 2026-03-03. The tables
after it use ``WED``, Wednesday 2026-11-25, and add must-not-match rows, letter-code enums and the ``list``
type with its negation scope.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from agents.extract import (
    ExtractResult,
    extract,
    is_bare_yes,
    is_goodbye,
    is_hold_request,
    is_non_answer,
    is_repeat_request,
    is_skip,
    mentions_intent,
    numerize,
    speak_date,
    speak_phone,
    speak_time,
    speak_value,
    spell,
    split_clauses,
    wants_human,
    yes_no,
)
from agents.spec import FieldSpec

TODAY = date(2026, 3, 6)

POLICY = FieldSpec(type="code", pattern=r"^[A-Z]{2}\d{5}$")
PHONE = FieldSpec(type="phone")
LOSS_DATE = FieldSpec(type="date", max="today")
ANY_DATE = FieldSpec(type="date")
TIME = FieldSpec(type="time")
INJURIES = FieldSpec(
    type="boolean",
    yes_words=["hurt", "hurts", "injured", "injury", "injuries", "ambulance", "hospital", "sore", "pain"],
    no_words=["fine", "okay", "ok", "alright", "unhurt", "uninjured"],
)
POLICE = FieldSpec(type="boolean", yes_words=["police came", "officer", "report number", "filed a report"])
PLAIN_BOOL = FieldSpec(type="boolean")
COUNT = FieldSpec(type="integer", min=0, max=20)
AMOUNT = FieldSpec(type="number")
BODY = FieldSpec(
    type="enum",
    values=[
        {"value": "sedan", "synonyms": ["car", "saloon"]},
        {"value": "suv", "synonyms": ["sport utility", "crossover"]},
        {"value": "pickup_truck", "synonyms": ["truck", "pickup"]},
    ],
)
EMAIL = FieldSpec(type="email")
NAME = FieldSpec(type="string")
TEXT = FieldSpec(type="text")
GENERIC_CODE = FieldSpec(type="code")


def value(field: FieldSpec, text: str, *, strict: bool = False) -> Any:
    return extract(field, text, today=TODAY, strict=strict).value


# --------------------------------------------------------------------------------------------------- code


@pytest.mark.parametrize(
    "text",
    [
        "PA44712",
        "PA44712.",
        "P.A. 44712",
        "P.A. 44712.",
        "P A 4 4 7 1 2",
        "P A 4 4 7 1 2.",
        "P, A, 4, 4, 7, 1, 2.",
        "Pa 44712",
        "pa44712",
        "PA-44712",
        "P-A-4-4-7-1-2.",
        "PA 44,712",
        "PA 447 12",
        "It's PA44712.",
        "My policy number is PA44712.",
        "Sure, it's P A 4 4 7 1 2.",
        "Um, P A, uh, 44712.",
        "papa alpha four four seven one two",
        "Papa Alpha 4 4 7 1 2.",
        "P as in Peter, A as in apple, 4 4 7 1 2.",
        "P for Peter, A for apple, 44712",
        "P A four four seven one two",
        "P A forty four seven twelve",
        "P A double four seven one two",
        "Hi, I need to report an accident. My policy number is PA44712.",
    ],
)
def test_code_phrasings(text: str) -> None:
    assert value(POLICY, text) == "PA44712"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no, it's P A 4 4 7 1 3", "PA44713"),
        ("PA44712, sorry, PA44713", "PA44713"),
        ("XY12345", "XY12345"),
        ("PA00001", "PA00001"),
        ("P A zero zero zero zero one", "PA00001"),
        ("P A oh oh oh oh one", "PA00001"),
    ],
)
def test_code_values(text: str, expected: str) -> None:
    assert value(POLICY, text) == expected


@pytest.mark.parametrize("text", ["PA4471", "P A 4 4 7", "I don't know", "Hello?", "", "PA447123 4"])
def test_code_rejects(text: str) -> None:
    r = extract(POLICY, text, today=TODAY)
    assert r.value is None and r.error


def test_code_near_miss_error_reads_back_what_was_heard() -> None:
    r = extract(POLICY, "PA4471", today=TODAY)
    assert r.error == "I heard P A 4 4 7 1, but that doesn't look like a complete number."


def test_code_strict_needs_one_unambiguous_value() -> None:
    assert value(POLICY, "Hi, my policy is PA44712 and it happened yesterday", strict=True) == "PA44712"
    assert value(POLICY, "PA44712 or maybe PA44713", strict=True) is None
    assert value(GENERIC_CODE, "AB123", strict=True) is None


@pytest.mark.parametrize(
    ("text", "expected"), [("AB 123 C", "AB123C"), ("it's X 4 5 6", "X456"), ("123", "123")]
)
def test_code_without_pattern(text: str, expected: str) -> None:
    assert value(GENERIC_CODE, text) == expected


# -------------------------------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    "text",
    [
        "425-555-0123",
        "425-555-0123.",
        "(425) 555-0123",
        "425 555 0123",
        "425.555.0123",
        "4255550123",
        "+1 425 555 0123",
        "+14255550123",
        "1-425-555-0123",
        "1 425 555 0123",
        "It's 425-555-0123.",
        "My number is 425 555 0123.",
        "four two five five five five zero one two three",
        "Four, two, five, five, five, five, zero, one, two, three.",
        "four two five, five five five, oh one two three",
        "four twenty five, five five five, oh one two three",
        "4 2 5 5 5 5 0 1 2 3",
        "four two five double five five zero one two three",
        "four two five triple five zero one two three",
        "area code 425, 555-0123",
        "Sure, you can reach me at 425-555-0123, that's my cell.",
    ],
)
def test_phone_phrasings(text: str) -> None:
    assert value(PHONE, text) == "+14255550123"


def test_phone_international_and_last_number_wins() -> None:
    assert value(PHONE, "+44 20 7946 0958") == "+442079460958"
    assert value(PHONE, "425-555-0123, no wait, 206-555-0199") == "+12065550199"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("555-0123", "I only got seven digits. I need the area code too."),
        ("123-456-7890", "That doesn't sound like a valid US phone number."),
        ("425 555 01", "I got 8 digits, but a phone number has ten."),
        ("I don't have one", "Sorry, I didn't catch a phone number."),
    ],
)
def test_phone_errors(text: str, error: str) -> None:
    r = extract(PHONE, text, today=TODAY)
    assert r == ExtractResult(None, error)


def test_phone_strict() -> None:
    assert value(PHONE, "I'm Jane and my number is 425 555 0123", strict=True) == "+14255550123"
    assert value(PHONE, "PA44712", strict=True) is None
    assert value(PHONE, "425 555 0123 or 206 555 0199", strict=True) is None


# --------------------------------------------------------------------------------------------------- date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yesterday.", "2026-03-05"),
        ("yesterday afternoon", "2026-03-05"),
        ("It was yesterday around 3.", "2026-03-05"),
        ("Last night.", "2026-03-05"),
        ("Today.", "2026-03-06"),
        ("This morning.", "2026-03-06"),
        ("Earlier today.", "2026-03-06"),
        ("The day before yesterday.", "2026-03-04"),
        ("Two days ago.", "2026-03-04"),
        ("2 days ago", "2026-03-04"),
        ("A couple of days ago.", "2026-03-04"),
        ("A week ago.", "2026-02-27"),
        ("Last Tuesday.", "2026-03-03"),
        ("It happened last Tuesday.", "2026-03-03"),
        ("On Tuesday.", "2026-03-03"),
        ("Tuesday, I think.", "2026-03-03"),
        ("This past Monday.", "2026-03-02"),
        ("Last Friday.", "2026-02-27"),
        ("March 5th.", "2026-03-05"),
        ("March 5", "2026-03-05"),
        ("March fifth", "2026-03-05"),
        ("March the 4th.", "2026-03-04"),
        ("On March 3rd, around 5 pm.", "2026-03-03"),
        ("The fifth of March.", "2026-03-05"),
        ("the 5th of March", "2026-03-05"),
        ("5 March 2026", "2026-03-05"),
        ("March 5, 2026.", "2026-03-05"),
        ("March 5th, 2026", "2026-03-05"),
        ("March fifth twenty twenty six", "2026-03-05"),
        ("February twenty first", "2026-02-21"),
        ("3/5/2026", "2026-03-05"),
        ("3/5/26", "2026-03-05"),
        ("3/5", "2026-03-05"),
        ("03/05/2026", "2026-03-05"),
        ("3-5-2026", "2026-03-05"),
        ("2026-03-05", "2026-03-05"),
        ("December 20th", "2025-12-20"),
        ("On the 2nd.", "2026-03-02"),
        ("on the twentieth", "2026-02-20"),
        ("Yesterday, March 5th.", "2026-03-05"),
    ],
)
def test_date_phrasings(text: str, expected: str) -> None:
    assert value(LOSS_DATE, text) == expected


def test_date_without_max_keeps_this_year() -> None:
    assert value(ANY_DATE, "December 20th") == "2026-12-20"
    assert value(ANY_DATE, "next Friday") == "2026-03-13"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Last week.", "Which day last week was it?"),
        ("Sometime in March.", "What day in March?"),
        ("February 30th", "That doesn't sound like a real date."),
        ("March 10th, 2026", "That date is in the future."),
        ("Next Friday.", "That date is in the future."),
        ("I'm not sure.", "Sorry, I didn't catch the date."),
        ("I may have hit a pole.", "Sorry, I didn't catch the date."),
    ],
)
def test_date_errors(text: str, error: str) -> None:
    assert extract(LOSS_DATE, text, today=TODAY) == ExtractResult(None, error)


def test_date_min_bound() -> None:
    field = FieldSpec(type="date", min="2026-01-01", max="today")
    assert extract(field, "December 20th", today=TODAY).error == "That date is too far back."


def test_date_needs_today() -> None:
    with pytest.raises(ValueError, match="today"):
        extract(LOSS_DATE, "yesterday")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'd like to report an accident from yesterday.", "2026-03-05"),
        ("Someone hit me this morning on the highway.", "2026-03-06"),
        ("It was on March 3rd.", "2026-03-03"),
        ("PA44712", None),
        ("425-555-0123", None),
        ("On the 5th.", None),
        ("At Main and 5th.", None),
        ("Hold on a second.", None),
        ("Yesterday or maybe the day before yesterday.", None),
    ],
)
def test_date_strict(text: str, expected: str | None) -> None:
    assert value(LOSS_DATE, text, strict=True) == expected


# --------------------------------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Around 3 PM.", "15:00"),
        ("around 3 p.m.", "15:00"),
        ("3pm", "15:00"),
        ("At 3:30 p.m.", "15:30"),
        ("5:45pm", "17:45"),
        ("15:30", "15:30"),
        ("It was around 8:15 a.m.", "08:15"),
        ("About 7 in the morning.", "07:00"),
        ("7 in the evening", "19:00"),
        ("10 at night", "22:00"),
        ("Around eleven last night.", "23:00"),
        ("Half past two in the afternoon.", "14:30"),
        ("half past two", "14:30"),
        ("Quarter past nine in the morning.", "09:15"),
        ("A quarter to five.", "16:45"),
        ("Twenty past four.", "16:20"),
        ("Ten to eight in the morning.", "07:50"),
        ("Three o'clock.", "15:00"),
        ("Three thirty.", "15:30"),
        ("three thirty in the morning", "03:30"),
        ("3 oh 5", "15:05"),
        ("Around 3.", "15:00"),
        ("About nine.", "09:00"),
        ("Noon.", "12:00"),
        ("Around noon.", "12:00"),
        ("Midnight.", "00:00"),
        ("12 am", "00:00"),
        ("12:30 pm", "12:30"),
        ("8", "08:00"),
        # as a phone line's recognizer writes "Around three in the afternoon."
        ("Round 3 to the afternoon", "15:00"),
        ("round 3", "15:00"),
    ],
)
def test_time_phrasings(text: str, expected: str) -> None:
    assert value(TIME, text) == expected


@pytest.mark.parametrize("text", ["I'm not sure.", "Sometime in the afternoon.", "No idea.", "25:00"])
def test_time_rejects(text: str) -> None:
    r = extract(TIME, text, today=TODAY)
    assert r.value is None and r.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It happened yesterday around 5 pm.", "17:00"),
        ("at 3:30", "15:30"),
        ("at 8:30", "08:30"),
        ("Around 3.", None),
        ("Main and 5th", None),
        ("PA44712", None),
        ("425 555 0123", None),
    ],
)
def test_time_strict(text: str, expected: str | None) -> None:
    assert value(TIME, text, strict=True) == expected


# ------------------------------------------------------------------------------------------------ boolean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", True),
        ("Yeah.", True),
        ("Yep.", True),
        ("Yup", True),
        ("Uh-huh.", True),
        ("Mm-hmm.", True),
        ("Yes, my passenger.", True),
        ("Yes, someone was hurt.", True),
        ("My neck is a little sore.", True),
        ("I'm fine but my wife is hurt.", True),
        ("The other driver went to the hospital.", True),
        ("They took him away in an ambulance.", True),
        ("Yes, but not badly.", True),
        ("I'm not okay.", True),
        ("There were.", True),
        ("No.", False),
        ("Nope.", False),
        ("Nah.", False),
        ("No, nobody was hurt.", False),
        ("Nope, nobody was hurt.", False),
        ("Nobody was hurt.", False),
        ("No one was injured, thank God.", False),
        ("There were no injuries.", False),
        ("No injuries.", False),
        ("Yeah, nobody was hurt.", False),
        ("We're all okay.", False),
        ("I'm fine.", False),
        ("Everyone's fine.", False),
        ("I don't think so.", False),
        ("Not that I know of.", False),
        ("We didn't need an ambulance.", False),
        ("I was rear-ended and nobody was hurt", False),
        ("No, no.", False),
        ("No wait, yes, my son was hurt.", True),
    ],
)
def test_injuries_boolean(text: str, expected: bool) -> None:
    assert value(INJURIES, text) is expected


@pytest.mark.parametrize("text", ["I'm not sure.", "Nothing serious.", "Hmm.", "What do you mean?", "Maybe."])
def test_boolean_unclear(text: str) -> None:
    r = extract(INJURIES, text, today=TODAY)
    assert r.value is None and r.error


def test_boolean_unsure_message() -> None:
    assert (
        extract(INJURIES, "I'm not sure.", today=TODAY).error
        == "That's okay. Your best guess is fine, yes or no."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", True),
        ("Yes, the officer gave me a report number.", True),
        ("The police came and took a report.", True),
        ("No.", False),
        ("No, we didn't call them.", False),
        ("No police.", False),
        ("I called them but they never showed up.", False),
    ],
)
def test_police_boolean(text: str, expected: bool) -> None:
    assert value(POLICE, text) is expected


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (INJURIES, "I was rear-ended at a light, nobody was hurt.", False),
        (INJURIES, "Someone backed into me and my neck hurts.", True),
        (INJURIES, "Yes.", None),
        (INJURIES, "Okay, it's P.A. 44712.", None),
        (INJURIES, "That's fine.", None),
        (POLICE, "Hi, I'd like to report an accident.", None),
        (POLICE, "The police came and took a report.", True),
        (PLAIN_BOOL, "Yes.", None),
    ],
)
def test_boolean_strict_only_from_field_words(field: FieldSpec, text: str, expected: bool | None) -> None:
    assert value(field, text, strict=True) is expected


# ----------------------------------------------------------------------------------------------- yes / no


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", True),
        ("Yes", True),
        ("Yeah, that's right.", True),
        ("That's right.", True),
        ("Correct.", True),
        ("That's correct.", True),
        ("Yep.", True),
        ("Sure.", True),
        ("Uh huh.", True),
        ("Mm-hmm.", True),
        ("Exactly.", True),
        ("You got it.", True),
        ("No wait, yes.", True),
        ("No.", False),
        ("Nope.", False),
        ("No, that's wrong.", False),
        ("That's not right.", False),
        ("Not quite.", False),
        ("Incorrect.", False),
        ("Hmm.", None),
        ("What?", None),
        ("", None),
    ],
)
def test_yes_no(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected


# ------------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (COUNT, "Seven.", 7),
        (COUNT, "7", 7),
        (COUNT, "Two.", 2),
        (COUNT, "There were 3 of us.", 3),
        (COUNT, "Twelve.", 12),
        (COUNT, "Twenty.", 20),
        (COUNT, "None.", 0),
        (COUNT, "No passengers.", 0),
        (COUNT, "Zero", 0),
        (COUNT, "A couple.", 2),
        (COUNT, "I think 2, no, 3.", 3),
        (AMOUNT, "Twenty one", 21),
        (AMOUNT, "About 1,200 dollars.", 1200),
        (AMOUNT, "Two thousand five hundred.", 2500),
        (AMOUNT, "three hundred and fifty", 350),
        (AMOUNT, "a hundred", 100),
        (AMOUNT, "3.5", 3.5),
        (AMOUNT, "Two and a half", 2.5),
        (AMOUNT, "A dozen.", 12),
    ],
)
def test_numbers(field: FieldSpec, text: str, expected: float) -> None:
    assert value(field, text) == expected
    assert type(value(field, text)) is type(expected)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Twenty one.", "That should be at most 20."),
        ("3.5", "I need a whole number."),
        ("Lots.", "Sorry, I didn't catch a number."),
    ],
)
def test_number_errors(text: str, error: str) -> None:
    assert extract(COUNT, text, today=TODAY).error == error


def test_number_min() -> None:
    field = FieldSpec(type="integer", min=1)
    assert extract(field, "zero", today=TODAY).error == "That should be at least 1."


def test_numbers_are_never_volunteered() -> None:
    assert value(COUNT, "three", strict=True) is None


# --------------------------------------------------------------------------------------------------- enum


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It's an SUV.", "suv"),
        ("suv", "suv"),
        ("A crossover.", "suv"),
        ("A sport utility vehicle.", "suv"),
        ("Just a regular car.", "sedan"),
        ("Sedan.", "sedan"),
        ("A pickup truck.", "pickup_truck"),
        ("Pickup truck", "pickup_truck"),
        ("pickup_truck", "pickup_truck"),
        ("Not the sedan, the truck.", "pickup_truck"),
    ],
)
def test_enum(text: str, expected: str) -> None:
    assert value(BODY, text) == expected


def test_enum_error_lists_options() -> None:
    assert extract(BODY, "A motorcycle.", today=TODAY).error == "Please say sedan, suv or pickup truck."


def test_enum_strict_needs_one_value() -> None:
    assert value(BODY, "my truck got hit", strict=True) == "pickup_truck"
    assert value(BODY, "not the sedan, the truck", strict=True) is None


# -------------------------------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john.smith@gmail.com", "john.smith@gmail.com"),
        ("It's john.smith@gmail.com.", "john.smith@gmail.com"),
        ("john dot smith at gmail dot com", "john.smith@gmail.com"),
        ("John Smith at gmail dot com", "smith@gmail.com"),
        ("j o h n at example dot com", "john@example.com"),
        ("jane underscore doe at outlook dot com", "jane_doe@outlook.com"),
        ("mary dash ann at example dot org", "mary-ann@example.org"),
        ("My email is JSmith42@Contoso.com", "jsmith42@contoso.com"),
    ],
)
def test_email(text: str, expected: str) -> None:
    assert value(EMAIL, text) == expected


def test_email_error() -> None:
    assert (
        extract(EMAIL, "I don't have email", today=TODAY).error == "Sorry, I didn't catch the email address."
    )


# ------------------------------------------------------------------------------------------ string / text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jane Doe.", "Jane Doe"),
        ("My name is Jane Doe.", "Jane Doe"),
        ("My name's Jane Doe.", "Jane Doe"),
        ("This is John Smith.", "John Smith"),
        ("Um, it's Maria Garcia.", "Maria Garcia"),
        ("I'm Bob.", "Bob"),
        ("Yeah, His name is John Smith.", "John Smith"),
        ("It's a 2019 Honda Civic.", "a 2019 Honda Civic"),
        ("My car is a blue Toyota Camry", "a blue Toyota Camry"),
        ("The corner of Main and 5th.", "The corner of Main and 5th"),
        (
            "It happened at the corner of Main Street and 5th Avenue.",
            "at the corner of Main Street and 5th Avenue",
        ),
    ],
)
def test_string(text: str, expected: str) -> None:
    assert value(NAME, text) == expected


@pytest.mark.parametrize(
    "text", ["Yes.", "No.", "Okay.", "Um.", "Hello?", "I don't know.", "I'm not sure.", "x"]
)
def test_string_rejects_non_answers(text: str) -> None:
    r = extract(NAME, text, today=TODAY)
    assert r.value is None and r.error


def test_text_keeps_the_account() -> None:
    text = "Um, so I was stopped at a red light and someone rear-ended me."
    assert value(TEXT, text) == "I was stopped at a red light and someone rear-ended me."
    long = "I don't know why, but the other driver ran the red light and hit my passenger side door."
    assert value(TEXT, long) == long


def test_strings_are_never_volunteered() -> None:
    assert value(NAME, "Jane Doe", strict=True) is None
    assert value(TEXT, "Someone hit me", strict=True) is None


# ------------------------------------------------------------------------------------------------ intents


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to talk to a person.", True),
        ("Agent.", True),
        ("Representative, please.", True),
        ("Can I speak to someone?", True),
        ("Let me talk to an adjuster.", True),
        ("Operator.", True),
        ("Get me a real person.", True),
        ("My insurance agent told me to call.", False),
        ("A person ran a red light.", False),
        ("Someone hit me.", False),
    ],
)
def test_wants_human(text: str, expected: bool) -> None:
    assert wants_human(text) is expected


@pytest.mark.parametrize(
    ("fn", "text", "expected"),
    [
        (is_goodbye, "Bye.", True),
        (is_goodbye, "Okay, goodbye.", True),
        (is_goodbye, "Never mind, I have to go.", True),
        (is_goodbye, "Yes.", False),
        (is_repeat_request, "Sorry?", True),
        (is_repeat_request, "What?", True),
        (is_repeat_request, "Sorry, what?", True),
        (is_repeat_request, "Can you repeat that?", True),
        (is_repeat_request, "I didn't catch that.", True),
        (is_repeat_request, "Hmm.", False),
        (is_hold_request, "Hold on, let me grab my card.", True),
        (is_hold_request, "One second.", True),
        (is_hold_request, "Let me check.", True),
        (is_hold_request, "It's PA44712.", False),
        (is_non_answer, "I'm not sure.", True),
        (is_non_answer, "I don't know.", True),
        (is_non_answer, "No idea.", True),
        (is_non_answer, "I can't remember.", True),
        (is_non_answer, "Yesterday.", False),
        (is_skip, "No.", True),
        (is_skip, "None.", True),
        (is_skip, "Skip.", True),
        (is_skip, "No, it was just me.", True),
        (is_skip, "There was no other driver.", True),
        (is_skip, "John Smith.", False),
        (is_bare_yes, "Yes.", True),
        (is_bare_yes, "Yeah, there was.", True),
        (is_bare_yes, "Yes, John Smith.", False),
        (mentions_intent, "Hi, I'd like to report an accident.", True),
        (mentions_intent, "I need to file a claim.", True),
        (mentions_intent, "Hello?", False),
    ],
)
def test_intents(fn: Any, text: str, expected: bool) -> None:
    assert fn(text) is expected


# ----------------------------------------------------------------------------------------- speech helpers


def test_numerize() -> None:
    assert numerize("March fifth at three thirty p.m.") == "march 5th at 3 30 pm"
    assert numerize("twenty-first of May") == "21st of may"
    assert numerize("two thousand twenty six") == "2026"
    assert numerize("four four seven") == "4 4 7"


def test_spoken_forms() -> None:
    assert spell("PA44712") == "P A 4 4 7 1 2"
    assert spell("CLM-123456") == "C L M 1 2 3 4 5 6"
    assert speak_phone("+14255550123") == "4 2 5, 5 5 5, 0 1 2 3"
    assert speak_phone("+442079460958") == "4 4 2 0 7 9 4 6 0 9 5 8"
    assert speak_date("2026-03-05", TODAY) == "Thursday, March 5th"
    assert speak_date("2025-12-22", TODAY) == "Monday, December 22nd, 2025"
    assert speak_time("15:30") == "3:30 PM"
    assert speak_time("09:00") == "9 AM"
    assert speak_time("12:00") == "noon"
    assert speak_value("boolean", False) == "no"
    assert speak_value("enum", "pickup_truck") == "pickup truck"
    assert speak_value("code", "PA44712") == "P A 4 4 7 1 2"


def test_split_clauses() -> None:
    text = "Thanks. I found the policy for Dr. Smith. What's your name? I have P A 4 4 7 1 2, is that right?"
    assert split_clauses(text) == [
        "Thanks.",
        "I found the policy for Dr. Smith.",
        "What's your name?",
        "I have P A 4 4 7 1 2, is that right?",
    ]
    assert split_clauses("Your claim number is C L M 1 2 3 4 5 6. Goodbye.") == [
        "Your claim number is C L M 1 2 3 4 5 6.",
        "Goodbye.",
    ]
    assert split_clauses("It was P.A. 44712 wasn't it") == ["It was P.A. 44712 wasn't it"]
    assert split_clauses("") == []


# ========================================================================================================
# Phrasing tables with ``WED`` = Wednesday 2026-11-25 as today: "yesterday" is Tuesday 11-24, "last
# Friday" 11-20, "on Monday" 11-23.

WED = date(2026, 11, 25)
PAST_DATE = FieldSpec(type="date", max="today")
FUTURE_DATE = FieldSpec(type="date", min="today")
SEVERITY = FieldSpec(type="integer", min=1, max=10)
MATTER = FieldSpec(
    type="enum",
    values={
        "personal_injury": ["car accident", "slip and fall", "injured"],
        "family": ["divorce", "custody"],
        "employment": ["fired", "wrongful termination", "my employer"],
        "criminal": ["arrested", "DUI", "charged"],
        "immigration": ["visa", "green card", "deported"],
        "real_estate": ["landlord", "eviction", "property"],
        "other": [],
    },
)
STATE = FieldSpec(  # as in legal.yaml: the postal codes are the values
    type="enum",
    values={
        "CA": ["California", "Cali"],
        "IN": ["Indiana"],
        "OR": ["Oregon"],
        "OH": ["Ohio"],
        "ME": ["Maine"],
        "OK": ["Oklahoma"],
        "DC": ["Washington DC", "D.C."],
        "WA": ["Washington"],
        "NY": ["New York"],
    },
)
STATE_BY_NAME = FieldSpec(  # the other way round: names as values, codes as synonyms
    type="enum", values={"california": ["CA", "Cali"], "indiana": ["IN"], "oregon": ["OR"]}
)
PLAN = FieldSpec(type="enum", values={"plan_a": ["plan A"], "plan_b": ["plan B"]})
RED_FLAGS = FieldSpec(
    type="list",
    values={
        "chest_pain": ["chest pain", "chest pains", "pain in my chest", "my chest hurts", "tight chest"],
        "trouble_breathing": [
            "trouble breathing",
            "shortness of breath",
            "short of breath",
            "can't breathe",
            "hard to breathe",
        ],
        "dizziness": ["dizzy", "lightheaded"],
        "fever": ["high temperature"],
        "fainting": ["fainted", "passed out", "blacked out"],
    },
)


def wed(field: FieldSpec, text: str, *, strict: bool = False) -> Any:
    return extract(field, text, today=WED, strict=strict).value


def wed_error(field: FieldSpec, text: str) -> str | None:
    r = extract(field, text, today=WED)
    assert r.value is None
    return r.error


# --------------------------------------------------------------------------------------------- code, more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P as in Peter, A as in apple, four four seven one two", "PA44712"),
        ("PA four four seven one two", "PA44712"),
        ("papa alpha 44712", "PA44712"),
        ("Papa alpha four four seven one two.", "PA44712"),
        ("P A double seven one two three", "PA77123"),
        ("PA 4 double 7 1 2", "PA47712"),
        ("PA triple five one two", "PA55512"),
        ("P A four four seven one oh", "PA44710"),
        ("PA oh four four seven one", "PA04471"),
        ("P A four oh seven one two", "PA40712"),
        ("It's P as in Peter, A as in apple, double four seven one two.", "PA44712"),
        # The recognizer garbles the letter but keeps the spelling word, whose initial is the letter.
        ("T as in Peter, I as an Apple 44712.", "PA44712"),
        ("It's P As In Peter. I As An Apple 4 4 7 1 2", "PA44712"),
        ("Sure, data is in Peter. I has an Apple 44712.", "PA44712"),
        ("Sure, he does in Peter, A as in apple, 4 4 7 1 2.", "PA44712"),
    ],
)
def test_code_spoken_forms(text: str, expected: str) -> None:
    assert wed(POLICY, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I was driving home from work when a truck hit me.",
        "The policy is in my wife's name.",
        "Oh, I think it's on the card.",
        "I have two kids and one dog.",
        "It happened on May 5th at 3 pm.",
        "PA four four seven",
        "PA 4471",
        "P A 4 4 7 1",
        "My car is in the shop, 44712.",
        "I live in Portland and the number is 44712.",
        "it was in traffic 44712",
    ],
)
def test_code_must_not_match(text: str) -> None:
    assert wed(POLICY, text) is None
    assert wed(POLICY, text, strict=True) is None


@pytest.mark.parametrize(
    "text", ["Oh, I think it's on the card.", "I have two kids and one dog.", "It happened at 3 pm."]
)
def test_code_ordinary_sentence_is_no_near_miss(text: str) -> None:
    assert wed_error(POLICY, text) == "Sorry, I didn't catch that number."


# -------------------------------------------------------------------------------------------- dates, more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yesterday.", "2026-11-24"),
        ("The day before yesterday.", "2026-11-23"),
        ("Last Friday.", "2026-11-20"),
        ("This Monday.", "2026-11-23"),
        ("On Monday.", "2026-11-23"),
        ("Monday.", "2026-11-23"),
        ("On Wednesday.", "2026-11-18"),  # said on a Wednesday: last week's (today would be "today")
        ("This Wednesday.", "2026-11-25"),
        ("Two days ago.", "2026-11-23"),
        ("A week ago.", "2026-11-18"),
        ("March 3rd.", "2026-03-03"),
        ("3rd of March.", "2026-03-03"),
        ("The third of March.", "2026-03-03"),
        ("March 3", "2026-03-03"),
        ("On the 3rd of March.", "2026-03-03"),
        ("11/20", "2026-11-20"),
        ("November twentieth.", "2026-11-20"),
        ("The twentieth.", "2026-11-20"),
        ("On the 20th.", "2026-11-20"),
        ("The 25th.", "2026-11-25"),
        ("December 1st.", "2025-12-01"),  # without a year, never after `max`
        ("November 30th.", "2025-11-30"),
        ("It started yesterday morning.", "2026-11-24"),
    ],
)
def test_date_phrasings_from_a_wednesday(text: str, expected: str) -> None:
    assert wed(PAST_DATE, text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("I don't remember.", "Sorry, I didn't catch the date."),
        ("I have no idea.", "Sorry, I didn't catch the date."),
        ("A while back.", "Roughly what date was that?"),
        ("A few days ago.", "Roughly what date was that?"),
        ("The other day.", "Roughly what date was that?"),
        ("Tomorrow.", "That date is in the future."),
        ("The day after tomorrow.", "That date is in the future."),
        ("Next Monday.", "That date is in the future."),
        ("November 30th, 2026", "That date is in the future."),
        ("12/24/2026", "That date is in the future."),
    ],
)
def test_date_must_not_match_from_a_wednesday(text: str, error: str) -> None:
    assert wed_error(PAST_DATE, text) == error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tomorrow.", "2026-11-26"),
        ("The day after tomorrow.", "2026-11-27"),
        ("On Monday.", "2026-11-30"),
        ("This Monday.", "2026-11-30"),
        ("Monday.", "2026-11-30"),
        ("Next Monday.", "2026-11-30"),
        ("This Wednesday.", "2026-11-25"),
        ("On Wednesday.", "2026-12-02"),
        ("The 20th.", "2026-12-20"),
        ("The 30th.", "2026-11-30"),
        ("March 3rd.", "2027-03-03"),
        ("Today.", "2026-11-25"),
    ],
)
def test_date_future_field_looks_ahead(text: str, expected: str) -> None:
    assert wed(FUTURE_DATE, text) == expected


def test_date_future_field_rejects_the_past() -> None:
    assert wed_error(FUTURE_DATE, "Last Monday.") == "That date is too far back."
    assert wed_error(FUTURE_DATE, "Yesterday.") == "That date is too far back."


def test_date_without_bounds_reads_tomorrow_and_bare_weekdays_as_past() -> None:
    assert wed(ANY_DATE, "tomorrow") == "2026-11-26"
    assert wed(ANY_DATE, "on Monday") == "2026-11-23"


def test_date_strict_from_a_wednesday() -> None:
    assert wed(FUTURE_DATE, "My court date is tomorrow.", strict=True) == "2026-11-26"
    assert wed(PAST_DATE, "It started on Monday.", strict=True) == "2026-11-23"
    assert wed(PAST_DATE, "The twentieth.", strict=True) is None
    assert wed(PAST_DATE, "A while back.", strict=True) is None


# -------------------------------------------------------------------------------------------- times, more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Around three in the afternoon.", "15:00"),
        ("3 pm", "15:00"),
        ("3 PM.", "15:00"),
        ("15:30", "15:30"),
        ("Half past two.", "14:30"),
        ("Quarter to five.", "16:45"),
        ("Noon.", "12:00"),
        ("Midnight.", "00:00"),
        ("About 7 in the morning.", "07:00"),
        ("About seven in the morning.", "07:00"),
        ("Seven thirty p.m.", "19:30"),
        ("seven thirty pm", "19:30"),
        ("7:30 in the evening", "19:30"),
        ("Around 10 at night.", "22:00"),
        ("At about half past seven in the evening.", "19:30"),
        # Recognizers write "seven thirty" as one number.
        ("at about 730 in the morning.", "07:30"),
        ("at 1130 at night", "23:30"),
        ("around 530 pm", "17:30"),
        ("At 1015.", "10:15"),
    ],
)
def test_time_phrasings_more(text: str, expected: str) -> None:
    assert wed(TIME, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I don't know.",
        "A while ago.",
        "A few hours ago.",
        "I don't remember.",
        "Soon.",
        "I was going 730 miles.",
        "Policy 44712.",
        "At 1275.",
    ],
)
def test_time_must_not_match(text: str) -> None:
    assert wed_error(TIME, text)
    assert wed(TIME, text, strict=True) is None


# -------------------------------------------------------------------------------------------- phone, more


@pytest.mark.parametrize(
    "text",
    [
        "four two five, five five five, zero one two three",
        "Four two five, five five five, oh one two three.",
        "(425) 555-0123",
        "425 555 0123",
        "plus one four two five five five five zero one two three",
        "Plus one, 425 555 0123.",
        "+1 (425) 555-0123",
        "four two five, double five five, zero one two three",
        "four two five, five double five, zero one two three",
        "It's four two five, triple five, zero one two three.",
    ],
)
def test_phone_spoken_forms(text: str) -> None:
    assert wed(PHONE, text) == "+14255550123"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("555-0123", "I only got seven digits. I need the area code too."),
        ("five five five, zero one two three", "I only got seven digits. I need the area code too."),
        ("My number is 5550123.", "I only got seven digits. I need the area code too."),
        ("PA44712", "Sorry, I didn't catch a phone number."),
        ("My policy number is PA 44712.", "I got 5 digits, but a phone number has ten."),
        ("I don't know it by heart.", "Sorry, I didn't catch a phone number."),
    ],
)
def test_phone_must_not_match(text: str, error: str) -> None:
    assert extract(PHONE, text, today=WED) == ExtractResult(None, error)
    assert wed(PHONE, text, strict=True) is None


# ------------------------------------------------------------------------------------ yes / no with hedges


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yeah I think so.", True),
        ("I think so.", True),
        ("I believe so.", True),
        ("I guess so.", True),
        ("I suppose so.", True),
        ("Yes, definitely.", True),
        ("Not really.", False),
        ("Nope.", False),
        ("I don't think so.", False),
        ("I don't believe so.", False),
        ("Definitely not.", False),
        ("I guess not.", False),
        ("Yes... well no.", False),  # the last clause with an opinion wins
        ("Yes, well, no.", False),
        ("No... well, yes.", True),
        ("I'm not sure.", None),
        ("Maybe.", None),
        ("Hmm.", None),
    ],
)
def test_yes_no_hedges(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected
    assert wed(PLAIN_BOOL, text) is expected


def test_boolean_unsure_is_asked_again() -> None:
    assert wed_error(PLAIN_BOOL, "I'm not sure") == "That's okay. Your best guess is fine, yes or no."


# -------------------------------------------------------------------------------------------- enum, more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was in a car accident.", "personal_injury"),
        ("I had a slip and fall at the grocery store.", "personal_injury"),
        ("I had a slip-and-fall.", "personal_injury"),
        ("I got injured at work.", "personal_injury"),
        ("Personal injury.", "personal_injury"),
        ("I'm going through a divorce.", "family"),
        ("It's about custody of my kids.", "family"),
        ("Family.", "family"),
        ("I was fired last week.", "employment"),
        ("Wrongful termination.", "employment"),
        ("My employer hasn't paid me.", "employment"),
        ("I was arrested.", "criminal"),
        ("I got a DUI.", "criminal"),
        ("I got a dui.", "criminal"),  # three capitals are no letter code: any case matches
        ("I've been charged with theft.", "criminal"),
        ("My visa expired.", "immigration"),
        ("It's about my green card.", "immigration"),
        ("My son is being deported.", "immigration"),
        ("My landlord won't give back my deposit.", "real_estate"),
        ("I'm facing eviction.", "real_estate"),
        ("A property dispute.", "real_estate"),
        ("Real estate.", "real_estate"),
        ("Other.", "other"),
        ("I wasn't injured, I was fired.", "employment"),
        ("I was fired, not arrested.", "employment"),  # a negated mention does not win
        ("Not a divorce, it's custody.", "family"),
    ],
)
def test_enum_by_synonym(text: str, expected: str) -> None:
    assert wed(MATTER, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hello, can you hear me?",
        "I'd like to speak with a lawyer.",
        "I don't know.",
        "It's complicated.",
        "What are your hours?",
        "It's not a divorce.",
        "Yes.",
    ],
)
def test_enum_must_not_match(text: str) -> None:
    assert wed_error(MATTER, text) == "Sorry, which one? For example personal injury, family or employment."
    assert wed(MATTER, text, strict=True) is None


def test_enum_strict_by_synonym() -> None:
    assert wed(MATTER, "Hi, I was in a car accident last week.", strict=True) == "personal_injury"
    assert wed(MATTER, "I got fired and then arrested.", strict=True) is None
    assert wed(MATTER, "I wasn't arrested.", strict=True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CA", "CA"),
        ("CA.", "CA"),
        ("C.A.", "CA"),
        ("C A", "CA"),
        ("C. A.", "CA"),
        ("C-A", "CA"),
        ("California.", "CA"),
        ("In California.", "CA"),
        ("I live in Cali.", "CA"),
        ("Oh, I'm in Ohio.", "OH"),
        ("Or maybe Ohio.", "OH"),
        ("Me and my wife live in Maine.", "ME"),
        ("IN", "IN"),
        ("Indiana.", "IN"),
        ("OR", "OR"),
        ("It's in OR.", "OR"),
        ("Oklahoma.", "OK"),
        ("OK, Oregon.", "OR"),
        ("Washington DC.", "DC"),
        ("Washington D.C.", "DC"),
        ("D.C.", "DC"),
        ("DC", "DC"),
        ("Washington.", "WA"),
        ("Oregon, not Washington.", "OR"),
        ("New York, or maybe Oregon.", "OR"),
    ],
)
def test_enum_state_codes_need_capitals(text: str, expected: str) -> None:
    assert wed(STATE, text) == expected


@pytest.mark.parametrize(
    "text",
    ["in", "or", "me", "oh", "ok", "ca", "OK", "OK.", "Ok", "I'm in a car.", "Oh, I don't know.", "Or not."],
)
def test_enum_state_codes_must_not_match_words(text: str) -> None:
    assert wed_error(STATE, text) == "Sorry, which one? For example California, Indiana or Oregon."


def test_enum_state_codes_are_never_volunteered() -> None:
    assert wed(STATE, "I'm calling from California.", strict=True) == "CA"
    assert wed(STATE, "Washington D.C.", strict=True) == "DC"
    assert wed(STATE, "CA", strict=True) is None
    assert wed(STATE, "P A 4 4 7 1 2", strict=True) is None
    assert wed(STATE, "I live in Oregon or Washington.", strict=True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm in California.", "california"),
        ("CA", "california"),
        ("C.A.", "california"),
        ("I live in IN.", "indiana"),
        ("I live in Indiana.", "indiana"),
        ("Cali", "california"),
        ("in", None),
        ("or", None),
        ("I'm in, or I was in, Texas.", None),
    ],
)
def test_enum_code_synonyms_need_capitals(text: str, expected: str | None) -> None:
    assert wed(STATE_BY_NAME, text) == expected


def test_enum_spelled_capital_before_the_pronoun_i() -> None:
    assert wed(PLAN, "Plan B I think.") == "plan_b"
    assert wed(PLAN, "I want plan A.") == "plan_a"


def test_enum_error_names_all_options_when_few() -> None:
    assert wed_error(STATE_BY_NAME, "Texas") == "Please say california, indiana or oregon."


# ------------------------------------------------------------------------------------------ numbers, more


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("About a seven.", 7),
        ("Seven out of ten.", 7),
        ("About a 7 out of 10.", 7),
        ("It was 9/10.", 9),
        ("A 7.", 7),
        ("An eight.", 8),
        ("It's like an eight or nine.", 9),  # alternatives: the larger
        ("Nine, or maybe eight.", 9),
        ("Between six and seven.", 7),
        ("A six, maybe a seven.", 7),
        ("8-9", 9),
        ("Six or seven or eight.", 8),
        ("On a scale of one to ten, I'd say a six.", 6),
        ("Ten.", 10),
        ("Ten out of ten.", 10),
        ("One.", 1),
        ("I said 5, no, 6.", 6),  # a correction: the last number
    ],
)
def test_severity_phrasings(text: str, expected: int) -> None:
    assert wed(SEVERITY, text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Eleven.", "That should be at most 10."),
        ("Twelve out of ten.", "That should be at most 10."),
        ("Zero.", "That should be at least 1."),
        ("I don't know.", "Sorry, I didn't catch a number."),
        ("It hurts a lot.", "Sorry, I didn't catch a number."),
    ],
)
def test_severity_rejects(text: str, error: str) -> None:
    assert wed_error(SEVERITY, text) == error


def test_count_ranges_take_the_larger_end() -> None:
    assert wed(COUNT, "Two or three.") == 3
    assert wed(COUNT, "Two to three people.") == 3
    assert wed(AMOUNT, "1,200 to 1,500 dollars.") == 1500


# --------------------------------------------------------------------------------------------------- list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Chest pain.", ["chest_pain"]),
        ("Chest pain and shortness of breath.", ["chest_pain", "trouble_breathing"]),
        ("Shortness of breath and chest pain.", ["trouble_breathing", "chest_pain"]),
        ("I'm dizzy and I have chest pain.", ["dizziness", "chest_pain"]),
        ("Chest pain, chest pains, and more chest pain.", ["chest_pain"]),
        ("I can't breathe.", ["trouble_breathing"]),
        ("My chest hurts and I feel lightheaded.", ["chest_pain", "dizziness"]),
        ("I passed out this morning.", ["fainting"]),
        ("chest_pain", ["chest_pain"]),
        ("Yes, chest pain.", ["chest_pain"]),
    ],
)
def test_list_values_in_order_of_first_mention(text: str, expected: list[str]) -> None:
    assert wed(RED_FLAGS, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "No.",
        "Nope.",
        "None.",
        "Nothing like that.",
        "None of those.",
        "No, nothing.",
        "No, none of those.",
        "I don't think so.",
        "Not really.",
        "No, just a headache.",
    ],
)
def test_list_negative_answer_is_empty(text: str) -> None:
    assert extract(RED_FLAGS, text, today=WED) == ExtractResult([])


@pytest.mark.parametrize(
    "text",
    [
        "No chest pain.",
        "I don't have trouble breathing.",
        "Not dizzy.",
        "Without a high temperature.",
        "I've never passed out.",
        "I haven't had any chest pain.",
        "No real chest pain.",
        "No chest pain or trouble breathing.",
        "No chest pain and no trouble breathing.",
        "Neither chest pain nor shortness of breath.",
        "No fever, chills or chest pain.",
        "I don't have a fever, headache or chest pain.",
        "I don't think I have chest pain.",
        "I'm not short of breath.",
        "No, no chest pain.",
        "I have chest pain, no wait, no chest pain.",  # a value's last mention decides
    ],
)
def test_list_negated_mentions_do_not_count(text: str) -> None:
    assert wed(RED_FLAGS, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No chest pain, but I'm a bit dizzy.", ["dizziness"]),
        ("I'm not dizzy but I can't breathe.", ["trouble_breathing"]),
        ("No fever, I have chest pain.", ["chest_pain"]),  # a new subject ends the scope
        ("No fever, my chest hurts.", ["chest_pain"]),
        ("I don't have a fever and have chest pain.", ["chest_pain"]),  # a coordinated verb ends it
        ("I haven't had any chest pain, but I fainted this morning.", ["fainting"]),
        ("I feel dizzy, not chest pain though.", ["dizziness"]),
        ("Not chest pain, trouble breathing.", ["trouble_breathing"]),  # a bare comma: a correction
        ("No, chest pain.", ["chest_pain"]),  # "No," alone is an answer word, not a scope
        ("No, I have chest pain.", ["chest_pain"]),
        ("Not really, just dizzy.", ["dizziness"]),
        ("Nothing except chest pain.", ["chest_pain"]),
        ("I'm not sure if it's chest pain.", ["chest_pain"]),  # uncertainty is no negation
        ("I don't know, maybe I'm dizzy.", ["dizziness"]),
        ("No idea, maybe chest pain.", ["chest_pain"]),
        ("I have chest pain and no trouble breathing.", ["chest_pain"]),
        ("No chest pain. I passed out though.", ["fainting"]),
        ("I don't have chest pain. Well, actually I do have chest pain.", ["chest_pain"]),
    ],
)
def test_list_negation_scope_ends(text: str, expected: list[str]) -> None:
    assert wed(RED_FLAGS, text) == expected


@pytest.mark.parametrize("text", ["Yes.", "I have a headache.", "I'm not sure.", "What do you mean?", "Hmm."])
def test_list_error_names_a_couple_of_options(text: str) -> None:
    assert (
        wed_error(RED_FLAGS, text)
        == "Please say which ones, for example chest pain or trouble breathing, or say none."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm calling because I have chest pain.", ["chest_pain"]),
        ("My mother fainted and she's dizzy.", ["fainting", "dizziness"]),
        ("No chest pain.", None),
        ("No.", None),
        ("None of those.", None),
        ("I need a nurse.", None),
    ],
)
def test_list_strict_needs_a_positive_mention(text: str, expected: list[str] | None) -> None:
    assert wed(RED_FLAGS, text, strict=True) == expected


def test_list_letter_codes() -> None:
    states = FieldSpec(type="list", values={"CA": ["California"], "OR": ["Oregon"], "IN": ["Indiana"]})
    assert wed(states, "CA and OR") == ["CA", "OR"]
    assert wed(states, "California or Oregon, not Indiana") == ["CA", "OR"]
    assert wed(states, "I live in California or in Oregon") == ["CA", "OR"]


def test_speak_list() -> None:
    assert speak_value("list", ["chest_pain", "trouble_breathing"]) == "chest pain and trouble breathing"
    assert speak_value("list", ["fever", "chest_pain", "fainting"]) == "fever, chest pain and fainting"
    assert speak_value("list", ["chest_pain"]) == "chest pain"
    assert speak_value("list", []) == "none"
    assert speak_value("list", None) == ""
