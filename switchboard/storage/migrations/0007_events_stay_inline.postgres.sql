-- An event row is about 2 KB, most of it its data: just over the size at which PostgreSQL
-- compresses a row's long values (pglz) and moves them to a TOAST table. A burst of ten
-- thousand reservation timeouts writes twenty thousand events, and compressing them cost
-- PostgreSQL about a quarter of the time it took to store them (bench/routing.py). Rows up
-- to a page's worth now stay inline as they are; SQLite never compresses.
ALTER TABLE events SET (toast_tuple_target = 8160)
