-- Sample users for examples/users-to-crm (PostgreSQL):
--   psql postgresql://postgres@127.0.0.1:5432/test -f examples/users-to-crm/seed.sql
DROP TABLE IF EXISTS crm_users;
CREATE TABLE crm_users (
    id          INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'draft')),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO crm_users (id, first_name, last_name, email, status) VALUES
    (1, 'Ada',     'Lovelace', 'ada@example.org',     'active'),
    (2, 'Charles', 'Babbage',  'charles@example.org', 'inactive'),
    (3, 'Grace',   'Hopper',   'grace@example.org',   'active'),
    (4, 'Alan',    'Turing',   'alan@example.org',    'draft'),
    (5, 'Barbara', 'Liskov',   'barbara@example.org', 'active');
