"""FAQ self-service: content, the matcher, and what customers ask."""
