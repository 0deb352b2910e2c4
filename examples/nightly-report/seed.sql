-- Sample orders for examples/nightly-report (PostgreSQL):
--   psql postgresql://postgres@127.0.0.1:5432/test -f examples/nightly-report/seed.sql
DROP TABLE IF EXISTS shop_orders;
CREATE TABLE shop_orders (
    id         INTEGER PRIMARY KEY,
    status     TEXT NOT NULL,
    amount     NUMERIC(10, 2) NOT NULL,
    placed_at  TIMESTAMPTZ NOT NULL
);
INSERT INTO shop_orders VALUES
    (1, 'paid',     19.90, '2026-11-24 09:15:00+01'),
    (2, 'paid',     45.00, '2026-11-24 13:40:00+01'),
    (3, 'refunded', 12.50, '2026-11-24 18:05:00+01'),
    (4, 'paid',      8.00, '2026-11-25 01:59:00+01'),
    (5, 'paid',     99.00, '2026-11-25 02:00:00+01'),  -- tonight's slot: the next report
    (6, 'paid',     30.00, '2026-11-23 23:00:00+01');  -- the night before
