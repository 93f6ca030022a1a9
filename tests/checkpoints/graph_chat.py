"""A real LangGraph chat, run in a process of its own: `python graph_chat.py [--async] THREAD
MESSAGE...` sends each message as one turn and prints the thread's messages as JSON.

Its node answers with every user message it has heard on the thread, so a resumed thread
shows in the reply whether the earlier turns came back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from threadkeeper.integrations.langgraph import ThreadkeeperSaver


def reply(state: MessagesState) -> dict[str, Any]:
    heard = [str(m.content) for m in state["messages"] if m.type == "human"]
    return {"messages": [AIMessage(f"heard {len(heard)}: {' | '.join(heard)}")]}


def builder() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("reply", reply)
    graph.add_edge(START, "reply")
    return graph


def shown(state: dict[str, Any]) -> str:
    return json.dumps([[m.type, m.content] for m in state["messages"]])


def chat(thread: str, messages: list[str]) -> str:
    config = {"configurable": {"thread_id": thread}}
    with ThreadkeeperSaver() as saver:  # THREADKEEPER_URL
        graph = builder().compile(checkpointer=saver)
        for text in messages:
            state = graph.invoke({"messages": [HumanMessage(text)]}, config)
    return shown(state)


async def achat(thread: str, messages: list[str]) -> str:
    config = {"configurable": {"thread_id": thread}}
    async with ThreadkeeperSaver() as saver:
        graph = builder().compile(checkpointer=saver)
        for text in messages:
            state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
    return shown(state)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--async":
        print(asyncio.run(achat(args[1], args[2:])))
    else:
        print(chat(args[0], args[1:]))
