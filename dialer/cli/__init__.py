"""The `dialer` commands. Each returns a process exit code; dialer.__main__ parses arguments and owns signals.

`lists` imports and exports the clinic's lists, `service` runs the service or one day's campaign in the
foreground, `reports` prints reports and prepares the database and the prompts, and `exits` turns an error into
the line a user reads and the exit code; `audit` says who ran a command, for the audit log. The `users` and
`audit` commands are in dialer.accounts.
"""
