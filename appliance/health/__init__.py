"""Site health: functional tests decide which sites receive work.

The pieces, from pure to effectful:
- policy.py: the policy document (YAML, versioned, validated with line numbers);
- rules.py: one site's verdict from its recent job history (pure);
- evaluation.py: all verdicts of one evaluation and the circuit breaker (pure);
- history.py: the SQL that reads the look-back window and the sites' state;
- events.py: status changes, pins, opt-outs and incidents written to the database;
- webhooks.py: delivery of status changes to configured URLs, with retries;
- live.py: the server agent's duties; replay.py: a policy over stored history;
- views.py and robot.py: plain dicts for the JSON API and the robot page.
"""
