-- Placeholder so that this branch's 0009 applies (versions run 1..n without gaps). The branch
-- that owns this number replaces it at merge; delete this file then.
SELECT 1;
