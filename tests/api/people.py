"""Three people for the /contacts and /segments tests: Ann on Twitter and email, Bob on SMS.

:func:`add_people` puts their messages in the app's KB and them in its CRM, as the ingest flow
would.
"""

from __future__ import annotations

from fastapi import FastAPI

from hub.models import Conversation, conversation_id_for
from tests.crm.helpers import author, message

ANN = author("twitter", "ann1", handle="ann", name="Ann Example", email="ann@example.org")
ANN_MAIL = author("email", "ann@example.org", email="ann@example.org")
BOB = author("sms", "+447911555666", phone="+447911555666", name="Bob")


def add_people(app: FastAPI) -> dict[str, str]:
    """Messages in the KB (two conversations for Ann, one for Bob) and their authors in the CRM."""
    msgs = [
        message(ANN, "t1", sentiment=-0.6, language="en"),
        message(ANN_MAIL, "e1", minutes=5, sentiment=-0.2, language="en"),
        message(BOB, "s1", minutes=9, sentiment=0.4, language="en"),
    ]
    conversations = []
    for msg in msgs:
        msg.conversation_id = conversation_id_for(msg.channel, msg.account, msg.native_id)
        conversations.append(
            Conversation(
                id=msg.conversation_id,
                channel=msg.channel,
                participants=[msg.author.id] if msg.author else [],
                first_message_at=msg.created_at,
                last_message_at=msg.created_at,
                message_count=1,
            )
        )
    app.state.kb.upsert_messages(msgs)
    app.state.kb.upsert_conversations(conversations)
    mapping: dict[str, str] = app.state.crm.upsert_from_messages(msgs)
    return {"ann": mapping[ANN.id], "bob": mapping[BOB.id]}
