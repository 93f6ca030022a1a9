"""The MCP server's limits, read from Settings once at each entry point."""

from __future__ import annotations

from dataclasses import dataclass

from threadkeeper.settings import Settings


@dataclass(frozen=True, slots=True)
class McpLimits:
    answer_tokens: int = 8000  # THREADKEEPER_MCP_ANSWER_TOKENS
    search_results: int = 20  # THREADKEEPER_MCP_SEARCH_RESULTS

    @classmethod
    def from_settings(cls, settings: Settings) -> McpLimits:
        return cls(settings.mcp_answer_tokens, settings.mcp_search_results)
