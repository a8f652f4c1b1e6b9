"""asyncio orchestration against ports: the due-task worker, pacing, attempt lifecycle."""
