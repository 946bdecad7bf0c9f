"""Running the bot beyond one process: webhook inbox, conversation state, metrics, logs."""
