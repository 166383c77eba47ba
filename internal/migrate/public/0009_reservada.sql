-- Placeholder for version 9, which belongs to another branch of this release (versions must run
-- 1..n without gaps). Drop this file when that branch's 0009 is merged.
SELECT 1;
