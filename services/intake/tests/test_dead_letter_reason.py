"""Dead-letter reasons name contact fields without what the validator quoted of their values."""

from iop_intake.adapters.referrals import redact_reason


def test_contact_problems_keep_the_field_and_drop_the_message() -> None:
    reason = (
        "data.program_weeks: Input should be less than or equal to 16; "
        "data.contact.email: value is not a valid email address: invalid characters: 'ä'"
    )
    assert redact_reason(reason) == (
        "data.program_weeks: Input should be less than or equal to 16; data.contact.email: invalid"
    )
