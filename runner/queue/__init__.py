"""Queue mode (``AGENT_QUEUE_URL=redis://...``): many workers on many machines, one claim per task.

    python -m runner run     poll GitHub, decide like the local mode, enqueue    dispatcher.py
    python -m runner worker  take a job, take the task's lease, run the pipeline  worker.py, task.py

RQ carries the jobs (``jobs.py``); a Redis lease per task (``lease.py``) makes sure one worker at a
time runs it; GitHub's labels stay the source of truth, so a task lost with Redis's contents or with a
killed worker is enqueued again by the next poll. See docs/scaling.md.
"""
