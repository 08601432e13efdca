"""Atomic and background writes."""

from __future__ import annotations

import threading

import pytest

from model_trainer.files import BackgroundWriter


def test_background_writes_run_in_order_off_the_calling_thread_and_failures_surface():
    done, threads = [], set()
    writer = BackgroundWriter()
    for i in range(5):
        writer.submit(lambda i=i: (done.append(i), threads.add(threading.get_ident())))
    writer.flush()
    assert done == [0, 1, 2, 3, 4] and threading.get_ident() not in threads

    def fail():
        raise OSError(28, "No space left on device")

    writer.submit(fail)
    writer.submit(lambda: done.append("after"))  # never runs: it would break the order
    with pytest.raises(OSError, match="No space left"):
        writer.flush()
    writer.close()
    assert done[-1] == 4


def test_a_failed_write_no_flush_reported_is_logged_when_the_writer_closes(caplog):
    """A run already ending with another error closes without a flush: its failed
    checkpoint write must still reach the log, not vanish."""
    writer = BackgroundWriter()

    def fail():
        raise OSError(28, "No space left on device")

    writer.submit(fail)
    with caplog.at_level("WARNING", logger="model_trainer.files"):
        writer.close()
    assert "a background write failed" in caplog.text and "No space left" in caplog.text
