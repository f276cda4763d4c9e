"""alerts: the alert lifecycle from warning or report to closure, and the message bus.

========================  ==============================================================
module                    job
========================  ==============================================================
``bus.py``                publish/subscribe (in-process now, Redis later)
``record.py``             :class:`Alert`, its audit entries, people's :class:`EventReport`
``lifecycle.py``          the state machine and its documented shortcuts
``policy.py``             cooldown, time limits, routing, reminders, suppression windows
``store.py``              SQLAlchemy tables ``alerts`` and ``alert_actions``
``service.py``            intake, dedup, routing, transitions, escalation, deadlines
``evidence.py``           snapshots and clips per alert, with retention
``watch.py``              the background deadline check
========================  ==============================================================
"""
