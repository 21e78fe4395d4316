"""Where state lives: the jobs and quotas in DynamoDB, the images in S3, the queues in SQS."""
