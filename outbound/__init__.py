"""What leaves the hub: signed outbound webhooks (``outbound.webhooks``) and, beside them, replies."""
