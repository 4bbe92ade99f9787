"""The blinker signals flask-huggy sends.

The sender is always the Flask app that received the webhook, so receivers can
be connected per app with ``connect_via(app)``. Everything else is passed as
keyword arguments; receivers should accept ``**extra`` so that arguments added
later never break them.

Each event signal is named exactly like Huggy's event, and its receivers get
``event`` (an :class:`~flask_huggy.Event`) and ``delivery`` (the
:class:`~flask_huggy.Delivery` it came in). An event Huggy also sends under
another name (:data:`~flask_huggy.aliases.EVENT_ALIASES`) has one signal for both
names; ``event.name`` says which one came. The events and their names come from
:mod:`flask_huggy.catalog`.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

from .catalog import CATALOG, snake_case

huggy_signals = Namespace()

#: Huggy event name -> its signal, for the events this version knows
#: (:mod:`flask_huggy.catalog`); an alias (``sentAllMessage``) maps to its
#: event's signal, the same object.
EVENT_SIGNALS: dict[str, NamedSignal] = {}
for _spec in CATALOG:
    _signal = huggy_signals.signal(_spec.name)
    for _name in _spec.names:
        EVENT_SIGNALS[_name] = _signal
        globals()[snake_case(_name)] = _signal  # closedChat -> closed_chat
del _spec, _signal, _name

# The loop above made one attribute per event name; they are declared again here
# for type checkers and editors, which do not run it (tests/test_catalog.py holds
# this list to the catalog).
received_message: NamedSignal
received_all_message: NamedSignal
started_chat: NamedSignal
created_chat: NamedSignal
agent_entered: NamedSignal
closed_chat: NamedSignal
answered_chat_form: NamedSignal
created_customer: NamedSignal
started_widget_attendance: NamedSignal
started_automation_flow: NamedSignal
finished_automation_flow: NamedSignal
sended_all_message: NamedSignal  # Huggy's spelling
#: The same signal, for the name live Huggy sends it under (see flask_huggy.aliases).
sent_all_message: NamedSignal
updated_workflow_step: NamedSignal
left_queue: NamedSignal
agent_changed_status: NamedSignal
updated_customer: NamedSignal
new_internal_message: NamedSignal
async_export_data: NamedSignal

# The library's own signals carry a "huggy." prefix so that they can never clash
# with an event name Huggy adds later.

#: Every event, known or not (kwargs ``event``, ``delivery``).
event_received = huggy_signals.signal("huggy.event_received")
#: Once per delivery, after all its events (kwarg ``delivery``).
delivery_received = huggy_signals.signal("huggy.delivery_received")
#: An event that failed validation and was let through (kwargs ``event``, ``delivery``, ``errors``).
invalid_event = huggy_signals.signal("huggy.invalid_event")
#: A receiver raised (kwargs ``event`` (``None`` for delivery_received), ``delivery``, ``exception``);
#: the webhook answers 5xx so that Huggy retries.
receiver_failed = huggy_signals.signal("huggy.receiver_failed")
#: A delivery queued for Celery still failed after its last retry (kwargs ``delivery``,
#: ``exception``, ``events``: those not handled); it is logged so that it can be replayed.
delivery_dead_lettered = huggy_signals.signal("huggy.delivery_dead_lettered")
#: Huggy's handshake was answered with its token (kwargs ``token``, ``confirmed``: ``True`` when
#: the confirmation request to ``HUGGY_CONFIRM_URL`` succeeded, ``False`` when it failed, ``None``
#: when it is switched off). Sent once per accepted handshake, after that request, once the
#: answer has left.
token_validated = huggy_signals.signal("huggy.token_validated")
#: The webhook refused a request (kwargs ``error``: the exception it answered with, a
#: :class:`~flask_huggy.DeliveryRejected` or Werkzeug's own; ``status``: the HTTP status;
#: ``body``: the JSON body, ``{"error": ..., "message": ...}``).
#: Nothing of a refused delivery fired. For dashboards and alerts, instead of parsing answers.
delivery_refused = huggy_signals.signal("huggy.delivery_refused")
