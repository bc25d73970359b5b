"""PostgreSQL and what stands in front of it: bounded statements and transactions (``db``),
the SQL (``repository``), the schema (``migrations``), start-up while the database is away
(``startup``), the embedded server for development (``embedded``), the in-process caches
(``cache``) kept true across replicas over LISTEN/NOTIFY (``invalidation``), and the
durable reply queue (``outbox``)."""
