import random

from mailbridge.decisions.matching.ticket_numbers import (
    find_subject_numbers,
    format_subject,
    is_valid_ticket_number,
    new_ticket_number,
    subject_number_pattern,
)

PATTERN = subject_number_pattern("[#{number}] {subject}")


def test_new_numbers_have_eleven_digits_and_a_valid_check_digit():
    numbers = {new_ticket_number() for _ in range(200)}
    assert len(numbers) == 200
    assert all(len(n) == 11 and n[0] != "0" and is_valid_ticket_number(n) for n in numbers)


def test_numbers_are_not_sequential():
    rng = random.Random(7)
    first, second = (int(new_ticket_number(rng.randrange)) for _ in range(2))
    assert abs(first - second) > 1000


def test_every_single_mistyped_digit_is_detected():
    number = new_ticket_number()
    for position in range(11):
        for digit in "0123456789":
            if digit != number[position]:
                assert not is_valid_ticket_number(number[:position] + digit + number[position + 1 :])


def test_every_swap_of_neighbouring_digits_is_detected():
    number = new_ticket_number()
    for i in range(10):
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        if swapped != number:
            assert not is_valid_ticket_number(swapped)


def test_number_is_found_in_a_reply_subject():
    number = new_ticket_number()
    assert find_subject_numbers(f"Re: AW: [#{number}] Where is my order", PATTERN) == (number,)


def test_mistyped_number_in_subject_matches_nothing():
    number = new_ticket_number()
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert find_subject_numbers(f"[#{wrong}] hello", PATTERN) == ()


def test_custom_subject_format_is_understood():
    number = new_ticket_number()
    pattern = subject_number_pattern("{subject} (Ticket {number})")
    assert find_subject_numbers(f"Re: hello (Ticket {number})", pattern) == (number,)


def test_format_subject_does_not_repeat_the_number():
    number = new_ticket_number()
    assert format_subject("[#{number}] {subject}", number, f"[#{number}] Order late") == f"[#{number}] Order late"
