"""Prompt sets: bundled code / prose / JSON / tool tasks, and synthetic prompts by token count."""
