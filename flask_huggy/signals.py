"""The blinker signals flask-huggy sends.

The sender is always the Flask app that received the webhook, so receivers can
be connected per app with ``connect_via(app)``. Everything else is passed as
keyword arguments; receivers should accept ``**extra`` so that arguments added
later never break them.

Each event signal is named exactly like Huggy's event, and its receivers get
``event`` (an :class:`~flask_huggy.Event`) and ``delivery`` (the
:class:`~flask_huggy.Delivery` it came in). An event Huggy also sends under
another name (:data:`~flask_huggy.catalog.EVENT_ALIASES`) has one signal for both
names; ``event.name`` says which one came. The signals are written out, one line
each, as Flask's are; a test holds them to the rows of :mod:`flask_huggy.catalog`.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

huggy_signals = Namespace()

# One signal per Huggy event, named as Huggy names it, in the order of Huggy's event list.
received_message = huggy_signals.signal("receivedMessage")
received_all_message = huggy_signals.signal("receivedAllMessage")
started_chat = huggy_signals.signal("startedChat")
created_chat = huggy_signals.signal("createdChat")
agent_entered = huggy_signals.signal("agentEntered")
closed_chat = huggy_signals.signal("closedChat")
answered_chat_form = huggy_signals.signal("answeredChatForm")
created_customer = huggy_signals.signal("createdCustomer")
started_widget_attendance = huggy_signals.signal("startedWidgetAttendance")
started_automation_flow = huggy_signals.signal("startedAutomationFlow")
finished_automation_flow = huggy_signals.signal("finishedAutomationFlow")
sended_all_message = huggy_signals.signal("sendedAllMessage")  # Huggy's spelling
#: The same signal, for the name live Huggy sends it under (``sentAllMessage``).
sent_all_message = sended_all_message
updated_workflow_step = huggy_signals.signal("updatedWorkflowStep")
left_queue = huggy_signals.signal("leftQueue")
agent_changed_status = huggy_signals.signal("agentChangedStatus")
updated_customer = huggy_signals.signal("updatedCustomer")
new_internal_message = huggy_signals.signal("newInternalMessage")
async_export_data = huggy_signals.signal("asyncExportData")

#: Huggy event name -> its signal, for the events this version knows; an alias
#: (``sentAllMessage``) maps to its event's signal, the same object, right after it.
#: Every signal above is an event's (the library's own come below).
EVENT_SIGNALS: dict[str, NamedSignal] = {}
for _name, _signal in huggy_signals.items():
    EVENT_SIGNALS[_name] = _signal
    if _signal is sended_all_message:
        EVENT_SIGNALS["sentAllMessage"] = _signal
del _name, _signal

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
#: A delivery queued for Celery went quiet with events not done (the broker lost its task, or a
#: retry could not be published) and was queued again by itself, ``HUGGY_RECOVER_AFTER`` seconds
#: after the journal's last news of it (kwargs ``delivery``, ``events``: those queued again,
#: ``record_id``: its journal record). Dead letters never come back this way.
delivery_recovered = huggy_signals.signal("huggy.delivery_recovered")
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
