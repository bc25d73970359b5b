"""The vocabulary every layer speaks: the records (``models``), the mistakes a caller can
make (``errors``), how input is checked (``validation``), currencies, the operation catalog
the service times, and API tokens. Imports nothing else of the service's."""
