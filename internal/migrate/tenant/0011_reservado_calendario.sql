-- Placeholder so that the webhooks branch's later migrations apply (versions run 1..n without
-- gaps). The branch that owns this number replaces it at merge; delete this file then.
SELECT 1;
