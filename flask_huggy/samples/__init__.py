"""One event object per Huggy event, from the samples in Huggy's webhook docs: ``<event name>.json``.

Data only: :func:`flask_huggy.catalog.sample_event` reads them, and each event's
row (:class:`~flask_huggy.catalog.EventSpec`) says which docs sample its file is
and where it keeps its ids. They ship inside the package so that the builders of
:mod:`flask_huggy.testing` and the ``flask huggy`` CLI work from an install.

Each file is the event object of one docs sample, byte for byte, except:

- ``createdChat`` (deprecated by Huggy, which documents no sample) is
  ``startedChat``'s sample, the event Huggy says replaced it;
- ``answeredChatForm`` (deprecated, undocumented) is assembled from the parts
  its schema reads (``id``, ``chat``, ``customer``, ``company``), taken from the
  agentEntered and message samples;
- the flow events use the richer 2024 sample (with ``flowToken`` and the
  ``huggy.chat.*`` context keys) rather than the 2018 one.
"""
