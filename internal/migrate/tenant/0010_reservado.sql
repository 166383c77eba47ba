-- Placeholder in branch feeds only: tenant migration 0010 belongs to parallel work (issue 23).
-- The runner needs versions without gaps, so this empty step lets 0011 apply here.
-- DROP THIS FILE AT MERGE: the real 0010 replaces it.
SELECT 1;
