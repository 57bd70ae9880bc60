"""The default task's name, for modules the registry itself depends on (the run store reads it for run.json
files written before runs recorded their task); importing it loads no task."""

DEFAULT_TASK = "text-classification"
