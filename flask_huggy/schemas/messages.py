"""Messages: receivedMessage, receivedAllMessage, sendedAllMessage, newInternalMessage."""

from __future__ import annotations

from .. import models
from .base import HuggySchema
from .common import ChatSchema, CompanySchema, ContactSchema, FileSchema
from .fields import Either, Flag, HuggyDateTime, Id, LooseNested, Text


class MessageSchema(HuggySchema):
    """One chat message, whoever sent it; the four message events share this shape."""

    model = models.Message
    id = Id()
    body = Text()
    is_internal = Flag()
    is_email = Flag()
    sender = LooseNested(ContactSchema)
    senderType = Text()
    # ``false`` while the chat waits in the queue (receivedMessage sample).
    receiver = LooseNested(ContactSchema)
    receiverType = Text()
    file = Either(Text(), FileSchema)
    channel = Text()
    customer = LooseNested(ContactSchema)
    chat = LooseNested(ChatSchema)
    send_at = HuggyDateTime()
    read_at = HuggyDateTime()
    company = LooseNested(CompanySchema)
