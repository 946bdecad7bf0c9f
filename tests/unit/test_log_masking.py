"""Secrets never reach the log file, whoever logs them."""

import io
import logging

from bot.logs.masking import SecretsFilter, mask_secrets

TOKEN = "123456789:AAH-test-token-000000000000000000000"


def test_tokens_and_phone_numbers_are_masked_and_ids_are_not():
    line = (
        f"POST https://api.telegram.org/bot{TOKEN}/getUpdates failed; customer 5123456789 "
        "sent +44 7700 900123 and 380671234567, card lsb_AbCdEf123456, chat -1001234567890, "
        "update 987654321 at 2026-11-23 13:22:30.123456"
    )
    masked = mask_secrets(line)
    assert TOKEN not in masked and "AAH-test-token" not in masked
    assert "bot123456789:***/getUpdates" in masked
    assert "7700 900123" not in masked and "380671234567" not in masked
    assert masked.count("[phone]") == 2
    assert "lsb_AbCdEf" not in masked
    for kept in ("5123456789", "-1001234567890", "987654321", "2026-11-23 13:22:30.123456"):
        assert kept in masked


def test_the_filter_masks_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretsFilter())
    logger = logging.getLogger("test_log_masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request to %s failed", f"/bot{TOKEN}/sendMessage")
        try:
            raise ValueError("customer typed +380 67 123 45 67")
        except ValueError:
            logger.exception("update %d failed", 42)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "AAH-test-token" not in output and "123 45 67" not in output
    assert "update 42 failed" in output and "ValueError: customer typed [phone]" in output


def test_national_and_spaced_phone_formats_are_masked():
    for phone in (
        "+380 67 123 45 67",
        "(067) 123-45-67",
        "8 (999) 123-45-67",
        "+44 7700 900123",
        "+380(67)123-45-67",
        "380671234567",
    ):
        masked = mask_secrets(f"customer wrote: call {phone} today")
        assert masked == "customer wrote: call [phone] today", (phone, masked)
    for kept in ("order 12345 at 2026-11-23", "ids 5123456789 and -1001234567890", "(10) items"):
        assert mask_secrets(kept) == kept
