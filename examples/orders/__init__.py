"""The order domain of the mission: a runnable order service built on eventledger."""
