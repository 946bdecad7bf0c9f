"""Human support: the customer's side (private chat) and the agents' side (forum topics)."""
