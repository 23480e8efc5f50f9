"""What talks to AWS: the ports of `flowcore.ports`, implemented on DynamoDB, its stream and Step Functions."""
