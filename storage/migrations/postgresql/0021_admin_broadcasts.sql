-- depends: 0013_ops
-- Broadcasts in every customer's language (issue 20): the per-language texts beside the
-- default one, a JSON object {"ru": "…", "uk": "…"}; NULL when there is only the default.
ALTER TABLE broadcasts ADD COLUMN texts TEXT;

-- Staff (admins, agents, cashiers) are customers of the bot too, but receive promotions only
-- once they asked for them with /subscribe: when they last did; NULL after /stop.
ALTER TABLE customers ADD COLUMN promotions_opted_in_at TEXT;
