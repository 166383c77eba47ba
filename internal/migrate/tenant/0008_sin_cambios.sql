-- Version 8 changes nothing. It was reserved for the settings work, which needed no tenant table;
-- versions run 1..n without gaps, so it stays as a no-op.
SELECT 1;
