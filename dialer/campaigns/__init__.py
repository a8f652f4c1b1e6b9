"""Campaign kinds as data, and the one pure planner that decides each patient's next step."""
