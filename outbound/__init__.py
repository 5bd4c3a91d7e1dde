"""What leaves the hub: replies through the channels (``outbound.dispatcher``) and signed
outbound webhooks to other systems (``outbound.webhooks``).

This package sits beside ``api`` and ``flows`` (it reads the CRM store, the knowledge base and
the channels; nothing below imports it); ``cli`` starts it (``parley dispatch``,
``parley webhooks deliver``, and ``parley run``). The API never sends anything itself: it
writes outbox rows (``crm.outbox``) and subscriptions, and the workers here act on them.
"""
