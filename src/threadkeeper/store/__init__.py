"""The hot store: Redis clients, the Lua scripts, threads, their indexes and edits."""
