-- The jtis of accepted DPoP proofs are kept for their 120-second window only: written without the
-- write-ahead log, an insert commits without waiting for a WAL flush (about a fifth more DPoP-bound
-- tokens per second, bench/token.ts). The price: after a PostgreSQL crash, or on a promoted standby,
-- the table is empty, so a proof accepted in the last two minutes could be presented once more within
-- its window (docs/oauth.md).
ALTER TABLE "UsedDpopProof" SET UNLOGGED;
