CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(40), created date DEFAULT '2020-01-01');
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    amount numeric(10,2) CHECK (amount > 0),
    status char(1) DEFAULT 'n',
    note text
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE UNIQUE INDEX orders_note_key ON orders (note);
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
CREATE SEQUENCE ticket_seq;
CREATE SCHEMA sales;
CREATE TABLE sales.regions (code text PRIMARY KEY, name text);
