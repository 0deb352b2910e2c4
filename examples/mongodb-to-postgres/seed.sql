-- The table the example copies paid orders into (dropped and created anew).
DROP TABLE IF EXISTS paid_orders;
CREATE TABLE paid_orders (
    number   integer PRIMARY KEY,
    customer text NOT NULL,
    total    numeric(12, 2) NOT NULL,
    paid_at  timestamptz NOT NULL
);
