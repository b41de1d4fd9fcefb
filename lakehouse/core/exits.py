"""The exit codes of the jobs and the `lakehouse` command: what a scheduler or a shell script acts on."""

OK = 0
FAILED = 1  # a job failed (an error, a reconciliation) and published nothing it should not
USAGE = 2  # usage or configuration: fix the command or conf/ (argparse's own code)
REJECTED = 3  # the run finished, but bronze files were rejected whole (--allow-rejected: 0)
ANOMALIES = 4  # the run finished, with a new anomaly at least as severe as monitoring.fail_on
BLOCKED = 5  # critical expectations failed: the tables they gate were not published
TRY_LATER = 75  # EX_TEMPFAIL: another run holds the lake, or a day's files have not all arrived

# Codes where running the same command again changes nothing until the data or the settings change.
DATA_OR_SETTINGS = {USAGE: "usage or configuration", REJECTED: "bronze files rejected whole",
                    ANOMALIES: "new anomalies (monitoring.fail_on)", BLOCKED: "critical expectations failed"}  # fmt: skip
