"""What leaves the hub: replies through the channels (``outbound.dispatcher``), and outbound
webhooks to other systems.

This package sits beside ``api`` and ``flows`` (it reads the CRM store, the knowledge base and
the channels; nothing below imports it); ``cli`` starts it (``parley dispatch``, and
``parley run``). The API never sends anything itself: it writes outbox rows
(``crm.outbox``), and the dispatcher here takes them.
"""
