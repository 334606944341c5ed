"""Incident response: playbooks in Amazon States Language, the actions they call, and the runner that
plans, gates, audits, executes and rolls them back."""
