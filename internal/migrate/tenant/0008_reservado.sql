-- Placeholder in branch feeds only: tenant migration 0008 belongs to parallel work (issue 23).
-- The runner needs versions without gaps, so this empty step lets 0011 apply here.
-- DROP THIS FILE AT MERGE: the real 0008 replaces it.
SELECT 1;
