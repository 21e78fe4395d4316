"""The worker's lanes: jobs rendered, tasks run, asynchronous answers delivered, under one retry policy."""
