"""Incidents, escalation policies, on-call schedules and SLA clocks."""
