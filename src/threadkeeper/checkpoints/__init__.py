"""LangGraph checkpoints kept as threadkeeper threads: records, their index, the service."""

from threadkeeper.checkpoints.service import CheckpointService

__all__ = ["CheckpointService"]
