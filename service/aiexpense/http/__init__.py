"""The JSON API's HTTP layer: the routes (``api``), who is asking (``auth``), faults answered
as 503 with Retry-After (``faults``), body and header limits (``limits``) and request ids."""
