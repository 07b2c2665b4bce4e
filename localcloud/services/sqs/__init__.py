"""SQS as AWS answers it: receipt handles, FIFO group order, request validation, dead-letter redrive."""
