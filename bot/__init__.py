"""imagine: a Slack /imagine command backed by Stable Diffusion on SageMaker."""
