"""The loyalty engine: rules, the points ledger, purchases, referrals and redemptions."""
