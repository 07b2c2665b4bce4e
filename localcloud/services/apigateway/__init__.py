"""API Gateway: the execute-api data plane answers for the API's owner, whoever calls."""
