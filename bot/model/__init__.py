"""The domain, below everything else: prompts, guards, jobs, tasks and the Bedrock models known."""
