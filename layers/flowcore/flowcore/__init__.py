"""Flow Manager's shared code: the model, the pure engine and the AWS adapters."""
