"""OpenAI's Conversations API over threadkeeper's threads: a conversation is a thread,
its items are turns. `items` maps between the two shapes; `service` does the work.
"""
