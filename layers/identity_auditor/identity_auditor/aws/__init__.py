"""What talks to AWS for every layer above: retry and backoff, access to member accounts, call counting."""
