"""Build and post Huggy deliveries, fake Huggy's side of the handshake, record signals: without Huggy.

Everything here is plain Python (no pytest needed): the ``flask huggy`` CLI uses
it, and so does the pytest plugin (:mod:`flask_huggy.pytest_plugin`), whose
fixtures are thin wrappers around these helpers. One module per job:

- :mod:`~flask_huggy.testing.builders`: deliveries shaped like Huggy's, built
  from its docs' samples, and posted to an app (:func:`build_event`,
  :func:`build_delivery`, :func:`post_delivery`, ...);
- :mod:`~flask_huggy.testing.handshake`: :class:`ConfirmationInterceptor`,
  Huggy's answer to the confirmation request the handshake sends;
- :mod:`~flask_huggy.testing.signals`: :class:`SignalRecorder`, what the
  receivers of an app would get;
- :mod:`~flask_huggy.testing.fake_api`: :class:`FakeHuggyAPI`, Huggy's REST
  API on a local port, for the calls receivers make.

Every name is importable from ``flask_huggy.testing`` itself::

    from flask_huggy.testing import build_delivery, build_event, post_delivery
"""

from __future__ import annotations

from .builders import (
    LOCAL_TIME_FORMAT,
    SAMPLE_TOKEN,
    EventLike,
    HuggyEvent,
    build_delivery,
    build_event,
    build_handshake,
    configured_token,
    fresh_id,
    local_time,
    post_delivery,
    post_handshake,
    set_field,
    webhook_url,
)
from .fake_api import FAKE_TOKEN, FakeHuggyAPI, FakeRequest
from .handshake import ConfirmationInterceptor, ConfirmationRequest
from .signals import SignalCall, SignalRecorder, signal_attributes, signal_name

__all__ = [
    "FAKE_TOKEN",
    "LOCAL_TIME_FORMAT",
    "SAMPLE_TOKEN",
    "ConfirmationInterceptor",
    "ConfirmationRequest",
    "EventLike",
    "FakeHuggyAPI",
    "FakeRequest",
    "HuggyEvent",
    "SignalCall",
    "SignalRecorder",
    "build_delivery",
    "build_event",
    "build_handshake",
    "configured_token",
    "fresh_id",
    "local_time",
    "post_delivery",
    "post_handshake",
    "set_field",
    "signal_attributes",
    "signal_name",
    "webhook_url",
]
